import pytest

from claims import services
from claims.models import Claim
from claims.views import BAD_SELECTION, NOTHING_SELECTED, TOO_MANY_SELECTED
from tests.factories import CaseFactory, secrets_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, subscriber):
    client.force_login(subscriber)
    return client


def test_my_claims_page_shows_frozen_price_claimed_at_expiry_and_release(logged_in, subscriber, settings, make_case):
    settings.DEFAULT_DAILY_PRICE_CENTS = 1250
    settings.CLAIM_MAX_DAYS = 30
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    settings.DEFAULT_DAILY_PRICE_CENTS = 9900  # a later price change must not show on the existing claim
    claim = Claim.objects.get(case=case)
    html = logged_in.get("/claims/").content.decode()
    assert "$12.50" in html and "$99.00" not in html
    assert claim.claimed_at.strftime("%Y-%m-%d %H:%M") in html
    assert claim.expires_at.strftime("%Y-%m-%d %H:%M") in html
    assert case.street in html  # owned: unmasked
    assert 'action="/claims/release/"' in html and "csrfmiddlewaretoken" in html
    assert "My claims (1)" in html  # the header counter


def test_ended_claims_are_listed_masked(logged_in, subscriber, make_case):
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    services.claim_release(actor=subscriber, case_ids=[case.pk])
    html = logged_in.get("/claims/").content.decode()
    assert "Ended claims" in html and f"Case #{case.pk}" in html
    assert not [s for s in secrets_of(case) if s in html]
    assert "My claims (0)" in html
    assert "Released by you" in html and "Released by the owner" not in html


def test_an_ended_claim_says_how_it_ended_and_why(logged_in, subscriber, staff_user, make_case):
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    services.claim_release(actor=staff_user, case_ids=[case.pk], reason="duplicate account")
    html = logged_in.get("/claims/").content.decode()
    assert 'Released <span class="muted">(duplicate account)</span>' in html


def test_claim_selected_with_htmx_answers_per_case_and_triggers_a_table_reload(logged_in, other_subscriber):
    free, taken = CaseFactory.create_batch(2)
    services.claim_cases(user=other_subscriber, case_ids=[taken.pk])
    response = logged_in.post(
        "/claims/claim/", {"case_ids": [free.pk, taken.pk]}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="claim-results"
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "claimsChanged"
    html = response.content.decode()
    assert f'data-case-id="{free.pk}" data-outcome="claimed"' in html
    assert f'data-case-id="{taken.pk}" data-outcome="already_claimed"' in html
    assert "Already claimed by another subscriber" in html
    assert 'id="nav-claims" hx-swap-oob="true"' in html and "My claims (1)" in html


def test_limit_message_on_the_page(logged_in, subscriber):
    subscriber.claim_limit = 1
    subscriber.save()
    a, b = CaseFactory.create_batch(2)
    response = logged_in.post("/claims/claim/", {"case_ids": [a.pk, b.pk]}, HTTP_HX_REQUEST="true")
    assert "You have reached your claim limit of 1. Release a case to claim another." in response.content.decode()


def test_release_without_htmx_redirects_back_with_messages(logged_in, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    response = logged_in.post("/claims/release/", {"case_ids": [case.pk], "next": "/claims/"}, follow=True)
    assert response.redirect_chain == [("/claims/", 302)]
    assert "Released — details hidden again" in response.content.decode()
    assert not Claim.objects.filter(status="active").exists()


def test_next_must_stay_on_this_site(logged_in):
    case = CaseFactory()
    response = logged_in.post("/claims/claim/", {"case_ids": [case.pk], "next": "https://evil.example/"})
    assert response["Location"] == "/cases/"


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], NOTHING_SELECTED),
        ([""], NOTHING_SELECTED),
        (["x"], BAD_SELECTION),
        (["-1"], BAD_SELECTION),
        (["HELD", "x"], BAD_SELECTION),
        (["1" * 30], BAD_SELECTION),
        (["HELD", *(str(10**9 + i) for i in range(250))], TOO_MANY_SELECTED),
    ],
)
@pytest.mark.parametrize("path", ["/claims/claim/", "/claims/release/"])
def test_bad_selections_are_refused_politely_saying_why(logged_in, subscriber, ids, message, path):
    held = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[held.pk])
    ids = [str(held.pk) if v == "HELD" else v for v in ids]  # a held case among refused ids stays as it is
    response = logged_in.post(path, {"case_ids": ids}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'class="msg error"' in html and message in html
    assert list(Claim.objects.values_list("case_id", "status")) == [(held.pk, "active")]  # nothing changed


def test_claim_and_release_need_post_and_csrf(client, subscriber):
    client.force_login(subscriber)
    assert client.get("/claims/claim/").status_code == 405
    strict = type(client)(enforce_csrf_checks=True)
    strict.force_login(subscriber)
    assert strict.post("/claims/claim/", {"case_ids": [1]}).status_code == 403


def test_case_detail_has_claim_then_release_button_and_unmasks(logged_in, subscriber, make_case):
    case = make_case()
    html = logged_in.get(f"/cases/{case.pk}/").content.decode()
    assert 'type="submit">Claim this case · $5.00 a day' in html and case.street not in html
    response = logged_in.post("/claims/claim/", {"case_ids": [case.pk], "next": f"/cases/{case.pk}/"}, follow=True)
    html = response.content.decode()
    assert case.street in html and case.case_number in html
    assert 'type="submit">Release this case' in html and 'type="submit">Claim this case' not in html
    logged_in.post("/claims/release/", {"case_ids": [case.pk], "next": f"/cases/{case.pk}/"})
    html = logged_in.get(f"/cases/{case.pk}/").content.decode()
    assert case.street not in html and 'type="submit">Claim this case' in html


def test_case_detail_of_someone_elses_case_has_no_buttons(logged_in, other_subscriber):
    case = CaseFactory()
    services.claim_cases(user=other_subscriber, case_ids=[case.pk])
    html = logged_in.get(f"/cases/{case.pk}/").content.decode()
    assert "Claimed by another subscriber" in html
    assert 'type="submit">Claim this case' not in html and 'type="submit">Release this case' not in html


def test_case_list_has_checkboxes_and_claim_release_buttons(logged_in, subscriber, other_subscriber):
    mine, free, theirs = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[mine.pk])
    services.claim_cases(user=other_subscriber, case_ids=[theirs.pk])
    html = logged_in.get("/cases/").content.decode()
    assert "Claim selected" in html and "Release selected" in html
    assert f'name="case_ids" value="{mine.pk}"' in html and f'name="case_ids" value="{free.pk}"' in html
    assert f'name="case_ids" value="{theirs.pk}"' not in html
    assert 'hx-trigger="claimsChanged from:body"' in html
    # filters still work alongside
    assert logged_in.get("/cases/?claimed=mine").content.decode().count('name="case_ids"') == 1


def test_my_claims_explains_holding_more_than_a_lowered_limit(logged_in, subscriber):
    cases = [CaseFactory() for _ in range(3)]
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    type(subscriber).objects.filter(pk=subscriber.pk).update(claim_limit=1)

    body = logged_in.get("/claims/").content.decode()

    assert "You hold <strong>3</strong> of 1 case" in body
    assert "more than your limit, which was lowered: you keep these" in body


def test_the_billing_page_shows_zero_in_the_pricing_currency(logged_in, settings):
    settings.DEFAULT_CURRENCY = "usd"

    body = logged_in.get("/billing/").content.decode()

    assert body.count("0.00 USD") >= 2  # this month so far, tomorrow's charge
    assert '<span class="num">0.00</span>' not in body


def test_the_terms_page_states_when_they_were_accepted_without_a_double_stop(logged_in, subscriber):
    body = logged_in.get("/me/terms/").content.decode()

    assert f"You accepted version {subscriber.terms_version} on " in body
    assert " UTC.</p>" in body and "..</p>" not in body


def test_at_the_limit_the_cases_ticked_first_on_the_page_are_the_ones_claimed(logged_in, subscriber):
    subscriber.claim_limit = 1
    subscriber.save()
    older_low, newer_best = CaseFactory(score=40), CaseFactory(score=99)  # the list shows the best first
    html = logged_in.get("/cases/").content.decode()
    assert html.index(f'value="{newer_best.pk}"') < html.index(f'value="{older_low.pk}"')
    logged_in.post("/claims/claim/", {"case_ids": [newer_best.pk, older_low.pk]}, HTTP_HX_REQUEST="true")
    assert list(Claim.objects.filter(status="active").values_list("case_id", flat=True)) == [newer_best.pk]
