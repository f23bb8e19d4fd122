import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from claims import services
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
    response = admin_client_.post(
        "/admin/claims/claim/", {"action": "release_claims", ACTION_CHECKBOX_NAME: [claim.pk]}, follow=True
    )
    assert "Released 1 claim." in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == "released"
    event = ClaimEvent.objects.get(action="released")
    assert (event.actor, event.from_user) == (admin_client_.admin, subscriber)


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
    assert "Reassigned 1 claim(s) to other@example.com." in response.content.decode()
    new = Claim.objects.get(status="active")
    assert new.user == other_subscriber
    event = ClaimEvent.objects.get(action="reassigned")
    assert (event.from_user, event.to_user, event.reason) == (subscriber, other_subscriber, "Territory change")


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
    assert "has reached their claim limit of 1 cases" in response.content.decode()
    assert Claim.objects.get(case=b, status="active").user == subscriber


def test_user_admin_release_all_claims_action(admin_client_, subscriber):
    cases = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    response = admin_client_.post(
        "/admin/accounts/user/", {"action": "release_all_claims", ACTION_CHECKBOX_NAME: [subscriber.pk]}, follow=True
    )
    assert "Released 3 claims." in response.content.decode()
    assert not Claim.objects.filter(status="active").exists()
    assert ClaimEvent.objects.filter(action="released", actor=admin_client_.admin).count() == 3


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
        f"/admin/claims/claim/{claim.pk}/change/", {"expires_at_0": "2030-01-02", "expires_at_1": "03:04:05"}
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

    # Changed again without a reason: the previous expiry is the new "before"; the default reason is recorded.
    admin_client_.post(url, {"expires_at_0": "2030-02-01", "expires_at_1": "00:00:00", "expiry_reason": ""})
    second = ClaimEvent.objects.filter(action="expiry_changed").latest("id")
    assert (second.expires_before, second.expires_after.isoformat()) == (
        first.expires_after,
        "2030-02-01T00:00:00+00:00",
    )
    assert second.reason == services.EXPIRY_CHANGED_REASON
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
        services.claim_set_expiry(actor=admin_client_.admin, claim=claim, expires_at=claim.claimed_at)
    claim.refresh_from_db()
    assert claim.expires_at is None  # no expiry change without its audit event
    with pytest.raises(services.ClaimError):
        services.claim_set_expiry(actor=subscriber, claim=claim, expires_at=claim.claimed_at)  # staff only
