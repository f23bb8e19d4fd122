import re
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission

from accounts.models import User
from claims import admin, services
from claims.admin import ClaimEventAdmin
from claims.models import Claim, ClaimEvent
from jsn.lib.admin import CappedCountPaginator
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    admin = UserFactory(email="root@example.com", is_superuser=True)
    client.force_login(admin)
    client.admin = admin
    return client


def test_claims_changelist_filters_and_search(admin_client_, subscriber):
    cases = CaseFactory.create_batch(2)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    for query in ("", "?status__exact=active", f"?user__id__exact={subscriber.pk}", "?q=sub%40example.com"):
        response = admin_client_.get(f"/admin/claims/claim/{query}")
        assert response.status_code == 200, query
    assert "sub@example.com" in admin_client_.get("/admin/claims/claim/?q=sub%40example.com").content.decode()


def test_release_action_releases_and_audits(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    confirm = admin_client_.post("/admin/claims/claim/", {"action": "release_claims", ACTION_CHECKBOX_NAME: [claim.pk]})
    html = confirm.content.decode()
    assert confirm.status_code == 200 and f"Claim #{claim.pk} — case #{case.pk}" in html and "held by sub@" in html
    assert Claim.objects.get().status == "active"  # nothing before the reason is given
    no_reason = admin_client_.post(
        "/admin/claims/claim/", {"action": "release_claims", "apply": "1", ACTION_CHECKBOX_NAME: [claim.pk]}
    )
    assert no_reason.status_code == 200 and no_reason.context["form"].errors["reason"]
    response = admin_client_.post(
        "/admin/claims/claim/",
        {"action": "release_claims", "apply": "1", "reason": "duplicate account", ACTION_CHECKBOX_NAME: [claim.pk]},
        follow=True,
    )
    assert "Released 1 claim." in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == "released"
    event = ClaimEvent.objects.get(action="released")
    assert (event.actor, event.from_user, event.reason) == (admin_client_.admin, subscriber, "duplicate account")


def test_release_action_on_ended_claims_only_says_so(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    services.claim_release(actor=subscriber, case_ids=[case.pk])
    response = admin_client_.post(
        "/admin/claims/claim/",
        {"action": "release_claims", ACTION_CHECKBOX_NAME: [Claim.objects.get().pk]},
        follow=True,
    )
    assert "Select at least one active claim." in response.content.decode()


def test_release_confirmation_says_which_selected_claims_it_leaves_alone(admin_client_, subscriber):
    cases = CaseFactory.create_batch(4)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    services.claim_release(actor=subscriber, case_ids=[cases[0].pk, cases[1].pk])
    selected = list(Claim.objects.values_list("pk", flat=True))
    confirm = admin_client_.post("/admin/claims/claim/", {"action": "release_claims", ACTION_CHECKBOX_NAME: selected})
    html = confirm.content.decode()
    assert "Release 2 active claims" in html
    assert "2 of the selected claims have already ended and are left as they are." in html
    services.claim_release(actor=subscriber, case_ids=[cases[2].pk])
    html = admin_client_.post(
        "/admin/claims/claim/", {"action": "release_claims", ACTION_CHECKBOX_NAME: selected}
    ).content.decode()
    assert "3 of the selected claims have already ended and are left as they are." in html
    assert "Release 1 active claim" in html and "Release 1 active claims" not in html
    alone = admin_client_.post(
        "/admin/claims/claim/",
        {"action": "release_claims", ACTION_CHECKBOX_NAME: [Claim.objects.get(status="active").pk]},
    )
    assert 'id="release-left-out"' not in alone.content.decode()  # nothing left out, nothing said


def test_reassign_action_shows_a_form_then_reassigns_with_reason(admin_client_, subscriber, other_subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    form = admin_client_.post("/admin/claims/claim/", {"action": "reassign_claims", ACTION_CHECKBOX_NAME: [claim.pk]})
    assert form.status_code == 200 and "New owner" in form.content.decode()
    assert Claim.objects.get().user == subscriber  # nothing happens before the form is submitted
    response = admin_client_.post(
        "/admin/claims/claim/",
        {
            "action": "reassign_claims",
            ACTION_CHECKBOX_NAME: [claim.pk],
            "apply": "Reassign",
            "to_user": other_subscriber.pk,
            "reason": "Territory change",
        },
        follow=True,
    )
    assert "Reassigned 1 claim to other@example.com." in response.content.decode()
    new = Claim.objects.get(status="active")
    assert new.user == other_subscriber
    event = ClaimEvent.objects.get(action="reassigned")
    assert (event.from_user, event.to_user, event.reason) == (subscriber, other_subscriber, "Territory change")


def test_reassign_without_a_new_owner_is_a_form_error_the_browser_lets_through(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    data = {"action": "reassign_claims", ACTION_CHECKBOX_NAME: [claim.pk], "apply": "Reassign", "reason": "x"}

    response = admin_client_.post("/admin/claims/claim/", data)

    body = response.content.decode()
    # The owner's select sits behind a search box, where a browser's own "required" bubble cannot show: the form
    # leaves validation to the server, which answers with the form and its error.
    assert re.search(r"<form method=\"post\" novalidate>", body)
    assert response.status_code == 200 and "This field is required." in body
    assert "{#" not in body and "novalidate:" not in body  # the template's note stays out of the page
    assert Claim.objects.get().user == subscriber


def test_reassign_refused_over_the_new_owners_limit_is_reported(admin_client_, subscriber, other_subscriber):
    other_subscriber.claim_limit = 1
    other_subscriber.save()
    a, b = CaseFactory.create_batch(2)
    services.claim_cases(user=other_subscriber, case_ids=[a.pk])
    services.claim_cases(user=subscriber, case_ids=[b.pk])
    claim = Claim.objects.get(case=b)
    response = admin_client_.post(
        "/admin/claims/claim/",
        {
            "action": "reassign_claims",
            ACTION_CHECKBOX_NAME: [claim.pk],
            "apply": "Reassign",
            "to_user": other_subscriber.pk,
            "reason": "x",
        },
        follow=True,
    )
    assert "has reached their claim limit of 1" in response.content.decode()
    assert Claim.objects.get(case=b, status="active").user == subscriber


def test_user_admin_release_all_claims_action(admin_client_, subscriber):
    cases = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    nobody = UserFactory(email="holds-nothing@example.com")
    url = "/admin/accounts/user/"
    confirm = admin_client_.post(
        url, {"action": "release_all_claims", ACTION_CHECKBOX_NAME: [subscriber.pk, nobody.pk]}
    )
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "sub@example.com: 3 active claims" in html
    assert "holds-nothing@" not in html  # only the users who hold something are listed (and posted back)
    assert "1 of the selected users holds no active claim and is left out." in html  # said, not silently dropped
    assert Claim.objects.filter(status="active").count() == 3
    response = admin_client_.post(
        url,
        {
            "action": "release_all_claims",
            "apply": "1",
            "reason": "account closed",
            ACTION_CHECKBOX_NAME: [subscriber.pk],
        },
        follow=True,
    )
    assert "Released 3 claims." in response.content.decode()
    assert not Claim.objects.filter(status="active").exists()
    events = ClaimEvent.objects.filter(action="released", actor=admin_client_.admin)
    assert set(events.values_list("reason", flat=True)) == {"account closed"} and events.count() == 3


def test_user_admin_release_all_for_users_without_claims_changes_nothing(admin_client_, subscriber):
    response = admin_client_.post(
        "/admin/accounts/user/", {"action": "release_all_claims", ACTION_CHECKBOX_NAME: [subscriber.pk]}, follow=True
    )
    assert "None of the selected users holds an active claim" in response.content.decode()


def test_claim_limit_is_editable_in_the_user_admin(admin_client_, subscriber):
    html = admin_client_.get(f"/admin/accounts/user/{subscriber.pk}/change/").content.decode()
    assert 'name="claim_limit"' in html


def test_staff_sets_a_claims_expiry_and_nothing_else(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    html = admin_client_.get(f"/admin/claims/claim/{claim.pk}/change/").content.decode()
    assert 'name="expires_at_0"' in html and 'name="daily_price_cents"' not in html
    response = admin_client_.post(
        f"/admin/claims/claim/{claim.pk}/change/",
        {"expires_at_0": "2030-01-02", "expires_at_1": "03:04:05", "expiry_reason": "Agreed"},
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.expires_at.isoformat() == "2030-01-02T03:04:05+00:00"


def test_audit_trail_admin_is_read_only_for_everyone(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    event = ClaimEvent.objects.get()
    assert admin_client_.get("/admin/claims/claimevent/").status_code == 200
    assert admin_client_.get("/admin/claims/claimevent/add/").status_code == 403
    assert admin_client_.get(f"/admin/claims/claimevent/{event.pk}/delete/").status_code == 403
    response = admin_client_.post(f"/admin/claims/claimevent/{event.pk}/change/", {"reason": "rewritten"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.reason == ""
    assert admin_client_.get("/admin/claims/claim/add/").status_code == 403


def test_claim_events_list_counts_up_to_a_cap_and_says_so(admin_client_, subscriber, monkeypatch):
    """The audit list never counts the whole trail: past the cap it says "more than …" and still pages."""
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in CaseFactory.create_batch(5)])
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    exactly = admin_client_.get("/admin/claims/claimevent/").content.decode()
    assert "5 claim events" in exactly and 'data-count="capped"' not in exactly

    monkeypatch.setattr(CappedCountPaginator, "cap", 3)
    monkeypatch.setattr(ClaimEventAdmin, "list_per_page", 2)
    first = admin_client_.get("/admin/claims/claimevent/")
    html = first.content.decode()
    assert '<span data-count="capped">more than 3 claim events</span>' in html
    assert len(first.context["cl"].result_list) == 2
    second = admin_client_.get("/admin/claims/claimevent/?p=2")
    assert second.status_code == 200 and len(second.context["cl"].result_list) == 2
    beyond = admin_client_.get("/admin/claims/claimevent/?p=9")  # past the counted pages: Django's own answer
    assert beyond.status_code == 302 and "e=1" in beyond["Location"]


def test_staff_expiry_change_is_audited_with_before_and_after_and_shows_in_the_timelines(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    assert claim.expires_at is None  # CLAIM_MAX_DAYS empty: never expires
    url = f"/admin/claims/claim/{claim.pk}/change/"
    assert 'name="expiry_reason"' in admin_client_.get(url).content.decode()

    response = admin_client_.post(
        url, {"expires_at_0": "2030-01-02", "expires_at_1": "03:04:05", "expiry_reason": "Agreed with the owner"}
    )
    assert response.status_code == 302
    first = ClaimEvent.objects.get(action="expiry_changed")
    assert (first.actor, first.to_user, first.from_user, first.claim_id, first.case_id) == (
        admin_client_.admin,
        subscriber,
        None,
        claim.pk,
        case.pk,
    )
    assert (first.expires_before, first.expires_after.isoformat()) == (None, "2030-01-02T03:04:05+00:00")
    assert first.reason == "Agreed with the owner"

    # Changed again without a reason: a form error, nothing changes. With one, the previous expiry is the "before".
    refused = admin_client_.post(url, {"expires_at_0": "2030-02-01", "expires_at_1": "00:00:00", "expiry_reason": ""})
    assert refused.status_code == 200 and admin.EXPIRY_REASON_REQUIRED in refused.content.decode()
    assert ClaimEvent.objects.filter(action="expiry_changed").count() == 1
    admin_client_.post(url, {"expires_at_0": "2030-02-01", "expires_at_1": "00:00:00", "expiry_reason": "Moved"})
    second = ClaimEvent.objects.filter(action="expiry_changed").latest("id")
    assert (second.expires_before, second.expires_after.isoformat()) == (
        first.expires_after,
        "2030-02-01T00:00:00+00:00",
    )
    assert second.reason == "Moved"
    # Saved unchanged: no event. Cleared: "never" is an expiry change too.
    admin_client_.post(url, {"expires_at_0": "2030-02-01", "expires_at_1": "00:00:00", "expiry_reason": "x"})
    assert ClaimEvent.objects.filter(action="expiry_changed").count() == 2
    admin_client_.post(url, {"expires_at_0": "", "expires_at_1": "", "expiry_reason": "Open-ended again"})
    cleared = ClaimEvent.objects.filter(action="expiry_changed").latest("id")
    assert (cleared.expires_before.isoformat(), cleared.expires_after) == ("2030-02-01T00:00:00+00:00", None)
    claim.refresh_from_db()
    assert claim.expires_at is None

    timeline = admin_client_.get(f"/admin/audit/case/{case.pk}/").content.decode()
    assert f"Expiry changed: case #{case.pk}" in timeline
    assert "expires never → 2030-01-02 03:04 · held by sub@example.com" in timeline
    assert "expires 2030-02-01 00:00 → never · held by sub@example.com" in timeline
    assert "Agreed with the owner" in timeline and "Open-ended again" in timeline
    owner_timeline = admin_client_.get(f"/admin/audit/user/{subscriber.pk}/?kind=claim").content.decode()
    assert owner_timeline.count("Expiry changed: case") == 3
    events = admin_client_.get("/admin/claims/claimevent/?action__exact=expiry_changed").content.decode()
    assert "never → 2030-01-02 03:04" in events


def test_an_expiry_in_the_past_is_refused_it_would_leave_an_ended_claim_in_use(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    url = f"/admin/claims/claim/{claim.pk}/change/"
    response = admin_client_.post(
        url, {"expires_at_0": "2020-01-01", "expires_at_1": "00:00:00", "expiry_reason": "Ends now"}
    )
    assert response.status_code == 200 and services.EXPIRY_NOT_IN_FUTURE in response.content.decode()
    claim.refresh_from_db()
    assert claim.expires_at is None and claim.status == "active"
    assert not ClaimEvent.objects.filter(action="expiry_changed").exists()
    with pytest.raises(services.ClaimError) as refused:  # the service holds the same rule for every caller
        services.claim_set_expiry(actor=admin_client_.admin, claim=claim, expires_at=claim.claimed_at)
    assert refused.value.code == "expiry_not_in_future"


def test_expiry_of_an_ended_claim_cannot_be_changed(admin_client_, subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()
    services.claim_release(actor=subscriber, case_ids=[case.pk])
    url = f"/admin/claims/claim/{claim.pk}/change/"
    page = admin_client_.get(url).content.decode()
    assert 'name="expires_at_0"' not in page and 'name="expiry_reason"' not in page
    admin_client_.post(url, {"expires_at_0": "2030-01-02", "expires_at_1": "1:00"})
    assert not ClaimEvent.objects.filter(action="expiry_changed").exists()
    assert services.claim_set_expiry(actor=admin_client_.admin, claim=claim, expires_at=None) is False


def test_expiry_change_and_its_event_commit_together(admin_client_, subscriber, monkeypatch):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get()

    def refuse(**kwargs):
        raise RuntimeError("audit insert failed")

    monkeypatch.setattr(ClaimEvent.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        services.claim_set_expiry(
            actor=admin_client_.admin, claim=claim, expires_at=claim.claimed_at + timedelta(days=30)
        )
    claim.refresh_from_db()
    assert claim.expires_at is None  # no expiry change without its audit event
    with pytest.raises(services.ClaimError):
        services.claim_set_expiry(actor=subscriber, claim=claim, expires_at=claim.claimed_at)  # staff only


def _reassign(client, claim: Claim, to_user: object, reason: str = "Territory change"):
    return client.post(
        "/admin/claims/claim/",
        {
            "action": "reassign_claims",
            ACTION_CHECKBOX_NAME: [claim.pk],
            "apply": "Reassign",
            "to_user": to_user,
            "reason": reason,
        },
    )


def test_reassign_form_offers_a_search_not_a_list_of_every_user(admin_client_, subscriber):
    UserFactory.create_batch(30)
    services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    claim = Claim.objects.get()
    form = admin_client_.post("/admin/claims/claim/", {"action": "reassign_claims", ACTION_CHECKBOX_NAME: [claim.pk]})
    html = form.content.decode()
    select = re.search(r'<select name="to_user"[^>]*>(.*?)</select>', html, re.S)
    assert select and 'class="admin-autocomplete"' in select.group(0)
    assert 'data-ajax--url="/admin/claims/reassign-targets/"' in select.group(0)
    assert select.group(1).count("<option") <= 1  # only the empty choice: the users come from the search
    assert "admin/js/autocomplete" in html and "select2" in html  # static files: no inline script (CSP)
    assert "<script>" not in html


@pytest.mark.parametrize(
    ("make_target", "error"),
    [
        (lambda owner: UserFactory(email="gone@example.com", is_active=False).pk, admin.NOT_AN_ACTIVE_USER),
        (lambda owner: 99_999_999, admin.NOT_AN_ACTIVE_USER),
        (lambda owner: "9" * 30, admin.NOT_AN_ACTIVE_USER),
        (lambda owner: "bob@example.com", admin.NOT_AN_ACTIVE_USER),
        (lambda owner: owner.pk, "The claim already belongs to sub@example.com."),
        (
            lambda owner: UserFactory(email="full@example.com", claim_limit=1).pk,
            "full@example.com has reached their claim limit of 1.",
        ),
    ],
    ids=["inactive", "no-such-id", "huge-id", "not-an-id", "same-owner", "at-limit"],
)
def test_reassign_to_a_user_who_cannot_take_it_is_a_form_error(admin_client_, subscriber, make_target, error):
    services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    claim = Claim.objects.get()
    target = make_target(subscriber)
    full = User.objects.filter(email="full@example.com").first()
    if full is not None:
        services.claim_cases(user=full, case_ids=[CaseFactory().pk])
    response = _reassign(admin_client_, claim, target)
    assert response.status_code == 200
    assert response.context["form"].errors["to_user"] == [error]
    assert error in response.content.decode()  # shown on the form, which stays filled in
    assert Claim.objects.get(pk=claim.pk).status == "active" and not ClaimEvent.objects.filter(action="reassigned")


@pytest.fixture
def reassigner(client):
    """Staff who may reassign claims but have no permission on users at all."""
    staff = UserFactory(email="desk@example.com", role="staff")
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="claims"))
    client.force_login(staff)
    return client


def test_reassign_targets_search_active_users_by_email_or_name(reassigner, django_assert_num_queries):
    bob = UserFactory(email="bob.builder@example.com", first_name="Robert", claim_limit=7)
    services.claim_cases(user=bob, case_ids=[c.pk for c in CaseFactory.create_batch(2)])
    UserFactory(email="bobby@example.com", is_active=False)
    UserFactory(email="alice@example.com")
    url = "/admin/claims/reassign-targets/"
    # 1 session, 2 user, 3 + 4 the staff member's permissions (own, groups'), 5 the page's count, 6 the page of users
    # with the claims each holds
    with django_assert_num_queries(6):
        body = reassigner.get(url, {"term": "bob"}).json()
    assert body == {
        "results": [{"id": str(bob.pk), "text": "bob.builder@example.com (2 of 7 claims)"}],
        "pagination": {"more": False},
    }
    assert [r["id"] for r in reassigner.get(url, {"term": "robert"}).json()["results"]] == [str(bob.pk)]


def test_reassign_targets_page_twenty_at_a_time(reassigner):
    for n in range(45):
        UserFactory(email=f"agent{n:02d}@example.com")
    url = "/admin/claims/reassign-targets/"
    first = reassigner.get(url, {"term": "agent"}).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"] is True
    assert first["results"][0]["text"].startswith("agent00@example.com")
    last = reassigner.get(url, {"term": "agent", "page": 3}).json()
    assert len(last["results"]) == 5 and last["pagination"]["more"] is False
    assert reassigner.get(url, {"term": "agent", "page": 9}).status_code == 404
    assert reassigner.get(url, {"term": "agent", "page": "x"}).status_code == 404


def test_reassign_targets_are_for_staff_who_may_reassign(client, subscriber):
    url = "/admin/claims/reassign-targets/"
    anonymous = client.get(url, {"term": "a"})
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    client.force_login(subscriber)
    assert client.get(url, {"term": "a"}, follow=True).status_code == 403
    viewer = UserFactory(email="viewer@example.com", role="staff")
    client.force_login(viewer)  # staff, but may not change claims
    response = client.get(url, {"term": "a"})
    assert response.status_code == 403 and "sub@example.com" not in response.content.decode()
