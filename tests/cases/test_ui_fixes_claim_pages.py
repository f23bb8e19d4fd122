"""The case page tells its owner what their claim costs and until when; a repeated claim or release answers
truthfully; the claim-limit message says where to release a case; the claim buttons take one click at a time."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from claims import services
from claims.models import Claim
from claims.views import ALREADY_RELEASED
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
LIMIT_TEXT = "You have reached your claim limit of 1. Release a case to claim another."
MY_CLAIMS_LINK = '<a href="/claims/">Go to My claims</a>'


@pytest.fixture
def logged_in(client, subscriber):
    client.force_login(subscriber)
    return client


def test_owner_sees_the_frozen_price_claimed_since_and_expiry_of_their_claim(
    logged_in, subscriber, settings, make_case
):
    settings.DEFAULT_DAILY_PRICE_CENTS = 1250
    settings.CLAIM_MAX_DAYS = 30
    case = make_case()
    with time_machine.travel(NOW, tick=False):
        services.claim_cases(user=subscriber, case_ids=[case.pk])
    settings.DEFAULT_DAILY_PRICE_CENTS = 9900  # a later price change must not show on the existing claim

    html = logged_in.get(f"/cases/{case.pk}/").content.decode()

    assert '<dd class="money">$12.50 USD' in html and "$99.00" not in html
    assert '<dt>Claimed since</dt><dd><time datetime="2026-03-10T14:30:00+00:00">2026-03-10 14:30</time></dd>' in html
    expires = NOW + timedelta(days=30)
    assert f'<dt>Expires</dt><dd><time datetime="{expires.isoformat()}">{expires:%Y-%m-%d %H:%M}</time></dd>' in html


def test_a_claim_without_expiry_says_never(logged_in, subscriber, settings, make_case):
    settings.CLAIM_MAX_DAYS = None
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    html = logged_in.get(f"/cases/{case.pk}/").content.decode()
    assert "<dt>Expires</dt><dd>Never</dd>" in html


def test_the_claim_is_read_in_one_query(logged_in, subscriber, make_case):
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    with CaptureQueriesContext(connection) as queries:
        response = logged_in.get(f"/cases/{case.pk}/")
    assert response.status_code == 200
    # The header's counter is a COUNT; the claim's terms are the one query reading the frozen price.
    reads = [q["sql"] for q in queries.captured_queries if '"claims_claim"."daily_price_cents"' in q["sql"]]
    assert len(reads) == 1


@pytest.mark.parametrize("whose", ["nobody", "another subscriber"])
def test_no_claim_terms_on_a_case_that_is_not_yours(logged_in, other_subscriber, make_case, whose):
    case = make_case()
    if whose == "another subscriber":
        services.claim_cases(user=other_subscriber, case_ids=[case.pk])
    html = logged_in.get(f"/cases/{case.pk}/").content.decode()
    assert "Daily price" not in html and "Claimed since" not in html


def test_a_second_release_of_the_same_case_says_it_was_already_released_not_that_it_was_never_claimed(
    logged_in, subscriber, make_case
):
    """Two posts of "Release this case" (a double click without JavaScript): both answers are true."""
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    form = {"case_ids": [case.pk], "next": f"/cases/{case.pk}/"}
    logged_in.post("/claims/release/", form)
    response = logged_in.post("/claims/release/", form, follow=True)
    html = response.content.decode()
    assert "Released — details hidden again" in html  # the first answer is not lost
    assert f'<li class="msg success">Case #{case.pk} ({case.county} County, {case.state}): {ALREADY_RELEASED}' in html
    assert "Was not claimed" not in html
    assert Claim.objects.get(case=case).status == Claim.Status.RELEASED


def test_a_second_release_over_htmx_is_reported_as_done(logged_in, subscriber, make_case):
    case = make_case()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    logged_in.post("/claims/release/", {"case_ids": [case.pk]}, HTTP_HX_REQUEST="true")
    html = logged_in.post("/claims/release/", {"case_ids": [case.pk]}, HTTP_HX_REQUEST="true").content.decode()
    assert f'<li class="outcome ok" data-case-id="{case.pk}" data-outcome="not_claimed">' in html
    assert ALREADY_RELEASED in html


def test_releasing_a_case_you_never_held_still_says_it_was_not_claimed(logged_in, other_subscriber, make_case):
    case = make_case()
    services.claim_cases(user=other_subscriber, case_ids=[case.pk])
    services.claim_release(actor=other_subscriber, case_ids=[case.pk])  # released, but not by this user
    html = logged_in.post("/claims/release/", {"case_ids": [case.pk]}, HTTP_HX_REQUEST="true").content.decode()
    assert 'class="outcome refused"' in html and "Was not claimed" in html and ALREADY_RELEASED not in html


def test_limit_reached_links_to_my_claims_over_htmx(logged_in, subscriber):
    subscriber.claim_limit = 1
    subscriber.save()
    a, b = CaseFactory.create_batch(2)
    html = logged_in.post("/claims/claim/", {"case_ids": [a.pk, b.pk]}, HTTP_HX_REQUEST="true").content.decode()
    assert f"{LIMIT_TEXT} {MY_CLAIMS_LINK}</li>" in html


def test_limit_reached_links_to_my_claims_on_the_case_page(logged_in, subscriber):
    subscriber.claim_limit = 1
    subscriber.save()
    held, wanted = CaseFactory.create_batch(2)
    services.claim_cases(user=subscriber, case_ids=[held.pk])
    form = {"case_ids": [wanted.pk], "next": f"/cases/{wanted.pk}/"}
    response = logged_in.post("/claims/claim/", form, follow=True)
    html = response.content.decode()
    assert response.redirect_chain == [(f"/cases/{wanted.pk}/", 302)]
    assert f'<li class="msg warning">Case #{wanted.pk} ({wanted.county} County, {wanted.state}): {LIMIT_TEXT}' in html
    assert MY_CLAIMS_LINK in html  # a link, not its escaped text
    assert "&lt;a href" not in html


def test_messages_still_escape_what_a_case_says(logged_in, subscriber):
    case = CaseFactory(county="<b>Bold</b>")
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    html = logged_in.post("/claims/release/", {"case_ids": [case.pk], "next": "/claims/"}, follow=True)
    assert "(&lt;b&gt;Bold&lt;/b&gt; County" in html.content.decode()


def test_claim_and_release_buttons_take_one_click_at_a_time(logged_in, subscriber, make_case):
    mine, free = make_case(), make_case()
    services.claim_cases(user=subscriber, case_ids=[mine.pk])
    html = logged_in.get("/cases/").content.decode()
    assert 'hx-disabled-elt="#claim-form button" hx-sync="this:drop"' in html  # the bulk buttons (htmx)
    assert 'hx-confirm="Release the selected cases?' in html  # a bulk release asks first too
    mine_page = logged_in.get(f"/cases/{mine.pk}/").content.decode()
    assert 'data-submit-once data-confirm="Release case #' in mine_page  # asks first: another subscriber may claim it
    assert '<script src="/static/jsn/forms.js" defer></script>' in mine_page
    free_page = logged_in.get(f"/cases/{free.pk}/").content.decode()
    assert 'action="/claims/claim/" data-submit-once>' in free_page
    claims_page = logged_in.get("/claims/").content.decode()
    assert f'action="/claims/release/" data-submit-once data-confirm="Release case #{mine.pk}?' in claims_page
    assert '<script src="/static/jsn/forms.js" defer></script>' in claims_page
