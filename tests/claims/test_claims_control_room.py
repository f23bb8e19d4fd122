"""/admin/claims/ — the claims control room: totals and daily revenue, filters, release, release all of a user,
reassign through the intermediate form, claim limit (audited), CSV export; staff with permissions only."""

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission

from accounts.models import User, UserEvent
from claims import services
from claims.models import Claim, ClaimEvent
from tests.backoffice import builders
from tests.billing.helpers import frozen
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOM = "/admin/claims/"
EXPORT = "/admin/claims/export/"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def boss(client):
    user = UserFactory(email="boss@example.com", is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def book():
    """A known set: alice holds 2 active usd claims (10.00 + 15.00) and 1 eur (7.00); bob 1 active usd (5.00) with
    billing off; 2 released, 1 expired, 1 reassigned."""
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com", billing_active=False)
    claims = {
        "a1": builders.claim(alice, claimed_at=at(1), cents=1000),
        "a2": builders.claim(alice, claimed_at=at(8), cents=1500),
        "a3": builders.claim(alice, claimed_at=at(9), cents=700, currency="eur"),
        "b1": builders.claim(bob, claimed_at=at(2), cents=500),
        "r1": builders.claim(alice, claimed_at=at(1), released_at=at(4)),
        "r2": builders.claim(bob, claimed_at=at(3), released_at=at(10, 9)),
        "x1": builders.claim(bob, claimed_at=at(1), released_at=at(9, 23), status=Claim.Status.EXPIRED),
        "g1": builders.claim(alice, claimed_at=at(1), released_at=at(5), status=Claim.Status.REASSIGNED),
    }
    return {"alice": alice, "bob": bob, **claims}


def _figure(html: str, name: str) -> str:
    return re.search(rf'data-figure="{name}">(?:<a[^>]*>)?(\d+)', html).group(1)


def test_totals_and_estimated_daily_revenue(boss, book):
    with frozen(NOW):
        html = boss.get(ROOM).content.decode()
    assert [_figure(html, n) for n in ("total", "active", "released", "expired", "reassigned")] == [
        "8",
        "4",
        "2",
        "1",
        "1",
    ]
    revenue = re.search(r'id="daily-revenue">(.*?)</td>', html, re.S).group(1)
    # usd: 10.00 + 15.00 (bob's 5.00 is not billed), eur: 7.00
    assert re.findall(r'data-currency="(\w+)">([^<]+)<', revenue) == [("eur", "7.00 EUR"), ("usd", "25.00 USD")]
    assert "1 active claim(s) of users with billing off are not counted" in revenue


def test_daily_table_shows_new_held_and_billed_revenue(boss, book):
    invoice = builders.invoice(book["alice"], date(2026, 3, 9), 2500)
    builders.line(invoice, date(2026, 3, 9), 2500)
    with frozen(NOW):
        response = boss.get(ROOM)
    days = {row["day"]: row for row in response.context["days"]}
    assert len(days) == 14 and response.context["days"][0]["day"] == date(2026, 3, 10)  # newest first
    nine = days[date(2026, 3, 9)]
    assert (nine["new"], nine["revenue"]) == (1, [("usd", 2500)])
    # Held on 3-09: a1, a2, a3, b1, r2 (until 3-10), x1 (expired 23:00 on 3-09).
    assert nine["held"] == 6
    assert days[date(2026, 3, 8)]["revenue"] == [("usd", 0)]


def _listed(response) -> list[int]:
    return [claim.pk for claim in response.context["claims"]]


def test_filters(boss, book):
    b = book
    assert _listed(boss.get(ROOM, {"status": "active", "user": "ALICE@example.com"})) == [
        b["a3"].pk,
        b["a2"].pk,
        b["a1"].pk,
    ]
    assert _listed(boss.get(ROOM, {"user": str(b["bob"].pk), "status": "expired"})) == [b["x1"].pk]
    assert _listed(boss.get(ROOM, {"date_from": "2026-03-08", "date_to": "2026-03-09"})) == [b["a3"].pk, b["a2"].pk]
    assert _listed(boss.get(ROOM, {"case": str(b["b1"].case_id)})) == [b["b1"].pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "gone"}, "status"),
        ({"case": "abc"}, "case"),
        ({"date_from": "2026-03-09", "date_to": "2026-03-01"}, "__all__"),
        ({"user": "bob"}, "user"),
    ],
)
def test_bad_filters_are_form_errors(boss, book, params, field):
    response = boss.get(ROOM, params)
    assert response.status_code == 200 and field in response.context["filter_form"].errors
    assert _listed(response) == []


@pytest.fixture
def held(subscriber):
    """Three cases claimed through the service by the subscriber."""
    cases = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    return list(Claim.objects.order_by("pk"))


def test_release_selected_is_audited(boss, subscriber, held):
    response = boss.post(
        f"{ROOM}?status=active",
        {"op": "release", "reason": "fraud check", "_selected_action": [held[0].pk, held[1].pk]},
    )
    assert response.status_code == 302 and response["Location"] == f"{ROOM}?status=active"
    assert list(Claim.objects.order_by("pk").values_list("status", flat=True)) == ["released", "released", "active"]
    events = ClaimEvent.objects.filter(action="released")
    assert {(e.claim_id, e.actor_id, e.from_user_id, e.reason) for e in events} == {
        (held[0].pk, boss.user.pk, subscriber.pk, "fraud check"),
        (held[1].pk, boss.user.pk, subscriber.pk, "fraud check"),
    }
    assert Claim.objects.get(pk=held[0].pk).case.assigned_to is None


def test_release_without_a_reason_records_the_default_and_without_a_selection_is_an_error(boss, held):
    nothing = boss.post(ROOM, {"op": "release", "reason": ""})
    assert nothing.status_code == 200 and "Select at least one claim." in nothing.content.decode()
    boss.post(ROOM, {"op": "release", "reason": "", "_selected_action": [held[2].pk]})
    assert ClaimEvent.objects.get(action="released").reason == "Released by staff in the claims control room"


def test_reassign_shows_the_intermediate_form_then_reassigns(boss, subscriber, other_subscriber, held):
    form = boss.post(ROOM, {"op": "reassign", "_selected_action": [held[0].pk]})
    assert form.status_code == 200 and "New owner" in form.content.decode()
    assert 'name="op" value="reassign"' in form.content.decode()  # the form comes back here, not to the changelist
    assert Claim.objects.get(pk=held[0].pk).status == "active"  # nothing before the form is submitted
    missing_reason = boss.post(
        ROOM, {"op": "reassign", "apply": "1", "_selected_action": [held[0].pk], "to_user": other_subscriber.pk}
    )
    assert missing_reason.status_code == 200 and missing_reason.context["form"].errors["reason"]
    done = boss.post(
        ROOM,
        {
            "op": "reassign",
            "apply": "1",
            "_selected_action": [held[0].pk],
            "to_user": other_subscriber.pk,
            "reason": "agent left",
        },
        follow=True,
    )
    assert "Reassigned 1 claim to other@example.com." in done.content.decode()
    new = Claim.objects.get(status="active", case_id=held[0].case_id)
    assert new.user == other_subscriber and Claim.objects.get(pk=held[0].pk).status == "reassigned"
    event = ClaimEvent.objects.get(action="reassigned")
    assert (event.actor, event.from_user, event.to_user, event.reason) == (
        boss.user,
        subscriber,
        other_subscriber,
        "agent left",
    )


def test_a_reason_typed_before_reassign_is_carried_onto_the_intermediate_form(boss, held):
    form = boss.post(ROOM, {"op": "reassign", "reason": "  agent on leave  ", "_selected_action": [held[0].pk]})
    assert form.status_code == 200 and form.context["form"]["reason"].value() == "agent on leave"
    assert 'value="agent on leave"' in form.content.decode()
    blank = boss.post(ROOM, {"op": "reassign", "_selected_action": [held[0].pk]})
    assert blank.context["form"]["reason"].value() == ""


@pytest.mark.parametrize("to_user", ["", "abc", "-1", "99999999", "9" * 40])
def test_reassign_to_no_valid_user_is_a_form_error_in_the_room_too(boss, held, to_user):
    response = boss.post(
        ROOM, {"op": "reassign", "apply": "1", "_selected_action": [held[0].pk], "to_user": to_user, "reason": "x"}
    )
    assert response.status_code == 200 and response.context["form"].errors["to_user"]
    assert 'name="op" value="reassign"' in response.content.decode()  # the form again, still for the room
    assert Claim.objects.get(pk=held[0].pk).status == "active"


def test_reassign_respects_the_new_owners_limit(boss, other_subscriber, held):
    User.objects.filter(pk=other_subscriber.pk).update(claim_limit=1)
    response = boss.post(
        ROOM,
        {
            "op": "reassign",
            "apply": "1",
            "_selected_action": [held[0].pk, held[1].pk],
            "to_user": other_subscriber.pk,
            "reason": "moving",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Reassigned 1 claim to" in html and "has reached their claim limit of 1;" not in html
    assert re.search(r"Not reassigned — claim #\d+: [^<]*has reached their claim limit of 1</li>", html)  # no ".;"
    assert Claim.objects.filter(user=other_subscriber, status="active").count() == 1


def test_release_all_of_a_user(boss, subscriber, other_subscriber, held):
    services.claim_cases(user=other_subscriber, case_ids=[CaseFactory().pk])
    response = boss.post(ROOM, {"op": "release_all", "user": "SUB@example.com", "reason": "chargeback"}, follow=True)
    assert "Released 3 claims of sub@example.com." in response.content.decode()
    assert not Claim.objects.filter(user=subscriber, status="active").exists()
    assert Claim.objects.filter(user=other_subscriber, status="active").count() == 1  # others untouched
    assert ClaimEvent.objects.filter(action="released", actor=boss.user, reason="chargeback").count() == 3


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"user": "ghost@example.com", "reason": "x"}, "user"),
        ({"user": "", "reason": "x"}, "user"),
        ({"user": "sub@example.com", "reason": ""}, "reason"),
    ],
)
def test_release_all_bad_input_is_a_form_error(boss, held, data, field):
    response = boss.post(ROOM, {"op": "release_all", **data})
    assert response.status_code == 200 and field in response.context["release_all_form"].errors
    assert Claim.objects.filter(status="active").count() == 3


def test_set_claim_limit_is_audited(boss, subscriber):
    response = boss.post(
        ROOM, {"op": "claim_limit", "user": str(subscriber.pk), "claim_limit": "7", "reason": "trial"}, follow=True
    )
    assert "Claim limit of sub@example.com: 50 → 7." in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.claim_limit == 7
    event = UserEvent.objects.get()
    assert (event.user, event.actor, event.action, event.from_value, event.to_value, event.reason) == (
        subscriber,
        boss.user,
        "claim_limit_set",
        "50",
        "7",
        "trial",
    )
    same = boss.post(ROOM, {"op": "claim_limit", "user": "sub@example.com", "claim_limit": "7"}, follow=True)
    assert "already was 7" in same.content.decode() and UserEvent.objects.count() == 1


@pytest.mark.parametrize("limit", ["0", "251", "-3", "ten", ""])
def test_claim_limit_outside_1_to_250_is_a_form_error(boss, subscriber, limit):
    response = boss.post(ROOM, {"op": "claim_limit", "user": "sub@example.com", "claim_limit": limit})
    assert response.status_code == 200 and "claim_limit" in response.context["claim_limit_form"].errors
    subscriber.refresh_from_db()
    assert subscriber.claim_limit == 50 and not UserEvent.objects.exists()


def test_export_streams_the_filtered_claims_and_neutralises_formulas(boss, subscriber, held):
    evil = UserFactory(email="+sum(1;2)@example.com")
    services.claim_cases(user=evil, case_ids=[CaseFactory().pk])
    services.claim_release(actor=boss.user, case_ids=[held[0].case_id], reason='=HYPERLINK("http://x")')
    response = boss.get(EXPORT, {"status": "released"})
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["claim_id"], r["user_email"], r["release_reason"]) for r in rows] == [
        (str(held[0].pk), "sub@example.com", '\'=HYPERLINK("http://x")')
    ]
    everyone = list(csv.DictReader(io.StringIO(b"".join(boss.get(EXPORT).streaming_content).decode())))
    assert "'+sum(1;2)@example.com" in [r["user_email"] for r in everyone]
    assert len(everyone) == 4
    assert boss.get(EXPORT, {"status": "gone"}).status_code == 400


def test_model_admins_are_linked_and_still_work(boss, held):
    html = boss.get(ROOM).content.decode()
    for url in ("/admin/claims/claim/", "/admin/claims/claimevent/"):
        assert f'href="{url}"' in html and boss.get(url).status_code == 200
    assert boss.get(f"/admin/claims/claim/{held[0].pk}/change/").status_code == 200


def _staff(client, *codenames: str) -> User:
    user = UserFactory(email="ops@example.com", role="staff")
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def test_staff_need_the_matching_permissions(client, subscriber, held):
    _staff(client)
    assert client.get(ROOM).status_code == 403 and client.get(EXPORT).status_code == 403
    client.logout()
    _staff(client, "view_claim")
    page = client.get(ROOM)
    assert page.status_code == 200 and "Release all claims of a user" not in page.content.decode()
    assert client.post(ROOM, {"op": "release", "_selected_action": [held[0].pk]}).status_code == 403
    assert client.post(ROOM, {"op": "release_all", "user": "sub@example.com", "reason": "x"}).status_code == 403
    assert client.post(ROOM, {"op": "claim_limit", "user": "sub@example.com", "claim_limit": "3"}).status_code == 403
    assert Claim.objects.filter(status="active").count() == 3
    subscriber.refresh_from_db()
    assert subscriber.claim_limit == 50


def test_subscribers_and_anonymous_never_reach_the_room(client, subscriber, held):
    assert "login" in client.get(ROOM)["Location"]
    client.force_login(subscriber)
    assert client.get(ROOM, follow=True).status_code == 403
    response = client.post(ROOM, {"op": "release_all", "user": "sub@example.com", "reason": "x"})
    assert response.status_code == 302 and Claim.objects.filter(status="active").count() == 3
    assert client.get(EXPORT, follow=True).status_code == 403


def test_an_unknown_operation_is_refused(boss):
    assert boss.post(ROOM, {"op": "truncate"}).status_code == 400


def test_the_room_runs_a_fixed_number_of_queries(boss, book, django_assert_num_queries):
    for n in range(60):
        builders.claim(book["alice"], claimed_at=at(1) + timedelta(minutes=n), released_at=at(2))
    with frozen(NOW), django_assert_num_queries(10):
        # 1 session, 2 user (admin_view's staff check), 3 the claim page with user and case (select_related,
        # 51 rows, no COUNT), 4 claims_by_day's counts (active, today, the past days), 5–6 claims started / ended
        # per past day (nothing cached yet), 7 revenue_by_day's counts (lines, void invoices), 8 revenue per day,
        # 9–10 claim_stats (totals by status; active and today's claims by currency).
        response = boss.get(ROOM)
    assert response.status_code == 200 and len(response.context["claims"]) == 50
    with frozen(NOW), django_assert_num_queries(7):  # the same without 5, 6 and 8: the past days are cached
        again = boss.get(ROOM)
    assert again.context["days"] == response.context["days"] and again.context["stats"] == response.context["stats"]


@pytest.mark.parametrize(
    "params",
    [
        {"page": "²"},
        {"user": "99999999999999999999"},
        {"case": "99999999999999999999"},
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
    ],
)
def test_odd_query_values_never_break_the_room(boss, book, params):
    assert boss.get(ROOM, params).status_code == 200
    assert boss.get(EXPORT, params).status_code in (200, 400)


def test_odd_user_references_are_form_errors(boss, held):
    for user in ("99999999999999999999", "²"):
        response = boss.post(ROOM, {"op": "claim_limit", "user": user, "claim_limit": "5"})
        assert response.status_code == 200 and "user" in response.context["claim_limit_form"].errors
    reassign = boss.post(ROOM, {"op": "reassign", "_selected_action": ["²", "9" * 30]})
    assert reassign.status_code == 200 and "Select at least one claim." in reassign.content.decode()


def test_reassigning_a_selection_sends_each_person_one_email(
    boss, subscriber, other_subscriber, held, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    mine = [c for c in held if c.user_id == subscriber.pk][:2]
    assert len(mine) == 2
    other_subscriber.claim_limit = 50
    other_subscriber.save()
    with django_capture_on_commit_callbacks(execute=True):
        boss.post(
            ROOM,
            {
                "op": "reassign",
                "apply": "1",
                "_selected_action": [c.pk for c in mine],
                "to_user": other_subscriber.pk,
                "reason": "territory",
            },
        )
    assert Claim.objects.filter(user=other_subscriber, status="active").count() >= 2
    assert sorted(m.to[0] for m in mailoutbox) == sorted([subscriber.email, other_subscriber.email])
    for message in mailoutbox:  # both claims in the one e-mail
        assert all(f"#{c.case_id}" in message.body for c in mine), message.body
