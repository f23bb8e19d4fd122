"""/admin/billing/ — the billing control room: month totals, filtered invoice list, generate a day, mark paid/failed
(audited), CSV export, links to the model admins; staff with permissions only."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Permission

from billing.models import BillingRun, Invoice, InvoiceEvent
from tests.backoffice import builders
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import frozen, local
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOM = "/admin/billing/"
EXPORT = "/admin/billing/export/"
D = date(2026, 6, 10)


@pytest.fixture
def boss(client):
    user = UserFactory(email="boss@example.com", is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def june():
    """Known invoices: June has 2 open (15.00 + 5.00), 1 paid (10.00), 1 failed (7.00), 1 void (3.00) in usd and
    1 paid eur (20.00); May has 1 failed usd (4.00, still failing now)."""
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    rows = {
        "open1": builders.invoice(alice, date(2026, 6, 1), 1500),
        "open2": builders.invoice(bob, date(2026, 6, 2), 500),
        "paid": builders.invoice(alice, date(2026, 6, 3), 1000, status="paid"),
        "failed": builders.invoice(bob, date(2026, 6, 4), 700, status="failed"),
        "void": builders.invoice(alice, date(2026, 6, 5), 300, status="void"),
        "eur": builders.invoice(bob, date(2026, 6, 6), 2000, status="paid", currency="eur"),
        "may": builders.invoice(alice, date(2026, 5, 31), 400, status="failed"),
    }
    return rows


def _figures(html: str, currency: str) -> dict[str, str]:
    """The totals row of one currency, as shown: {"billed": "32.00 USD (4)", …}."""
    import re

    row = re.search(rf'<tr data-currency="{currency}">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r'data-figure="(\w+)">(.*?) <small>\((\d+)\)</small>', row)
    return {name: f"{money} ({count})" for name, money, count in cells}


def test_month_totals_match_the_known_invoices(boss, june):
    with frozen(local(date(2026, 6, 20), 12)):
        html = boss.get(ROOM).content.decode()
    assert _figures(html, "usd") == {
        "billed": "37.00 USD (4)",  # open 15 + 5, paid 10, failed 7; void left out
        "collected": "10.00 USD (1)",
        "pending": "20.00 USD (2)",
        "failed": "7.00 USD (1)",
        "uncollectible": "0.00 USD (0)",
        "void": "3.00 USD (1)",
    }
    assert _figures(html, "eur")["collected"] == "20.00 EUR (1)"
    assert 'id="invoices-failing" href="?status=failed"><strong>2</strong>' in html  # June's and May's
    may = boss.get(ROOM, {"month": "2026-05"}).content.decode()
    assert _figures(may, "usd") == {
        "billed": "4.00 USD (1)",
        "collected": "0.00 USD (0)",
        "pending": "0.00 USD (0)",
        "failed": "4.00 USD (1)",
        "uncollectible": "0.00 USD (0)",
        "void": "0.00 USD (0)",
    }
    assert 'data-currency="eur"' not in may


def test_a_bad_month_is_a_form_error_and_shows_this_month(boss, june):
    with frozen(local(date(2026, 6, 20), 12)):
        response = boss.get(ROOM, {"month": "June"})
    assert response.status_code == 200
    assert response.context["month_form"].errors
    assert response.context["month"] == date(2026, 6, 1)


def _listed(response) -> list[str]:
    return [invoice.number for invoice in response.context["invoices"]]


def test_invoice_list_filters(boss, june):
    n = {k: v.number for k, v in june.items()}
    assert _listed(boss.get(ROOM, {"status": "failed"})) == [n["failed"], n["may"]]
    assert _listed(boss.get(ROOM, {"user": "BOB@example.com"})) == [n["eur"], n["failed"], n["open2"]]
    alice_id = june["open1"].user_id
    assert _listed(boss.get(ROOM, {"user": str(alice_id), "status": "open"})) == [n["open1"]]
    assert _listed(boss.get(ROOM, {"date_from": "2026-06-02", "date_to": "2026-06-04"})) == [
        n["failed"],
        n["paid"],
        n["open2"],
    ]
    assert _listed(boss.get(ROOM, {"currency": "EUR"})) == [n["eur"]]
    assert _listed(boss.get(ROOM, {"user": "nobody@example.com"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"date_from": "2026-06-05", "date_to": "2026-06-01"}, "__all__"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"user": "not an email"}, "user"),
        ({"currency": "dollars"}, "currency"),
    ],
)
def test_bad_filters_are_form_errors_not_an_unfiltered_list(boss, june, params, field):
    response = boss.get(ROOM, params)
    assert response.status_code == 200
    assert field in response.context["filter_form"].errors
    assert _listed(response) == []


def test_pagination_has_no_count_and_keeps_the_filters(boss, settings, monkeypatch):
    monkeypatch.setattr("billing.control_room.PAGE_SIZE", 2)
    user = UserFactory(email="many@example.com")
    for day in range(1, 6):
        builders.invoice(user, date(2026, 6, day), 100)
    first = boss.get(ROOM, {"user": "many@example.com"})
    assert [i.invoice_date.day for i in first.context["invoices"]] == [5, 4]
    assert first.context["next_query"] == "user=many%40example.com&page=2"
    assert first.context["previous_query"] is None
    third = boss.get(ROOM, {"user": "many@example.com", "page": "3"})
    assert [i.invoice_date.day for i in third.context["invoices"]] == [1]
    assert third.context["next_query"] is None
    assert third.context["previous_query"] == "user=many%40example.com&page=2"


def test_a_status_change_on_more_than_a_page_is_refused_whole(boss, june):
    ids = [june["open1"].pk, june["open2"].pk, *range(10**9, 10**9 + 49)]  # 51 ticked (a hand-made form)

    response = boss.post(ROOM, {"op": "status", "to_status": "paid", "reason": "wire", "_selected_action": ids})

    assert response.status_code == 200
    assert "Select at most 50 invoices" in response.content.decode()
    assert Invoice.objects.get(pk=june["open1"].pk).status == "open" and not InvoiceEvent.objects.exists()


def test_mark_paid_and_failed_need_a_reason_and_are_audited(boss, june):
    ids = [june["open1"].pk, june["open2"].pk]
    no_reason = boss.post(ROOM, {"op": "status", "to_status": "paid", "reason": "", "_selected_action": ids})
    assert no_reason.status_code == 200 and "reason" in no_reason.context["status_form"].errors
    nothing = boss.post(ROOM, {"op": "status", "to_status": "paid", "reason": "wire", "_selected_action": []})
    assert nothing.status_code == 200 and "Select at least one invoice." in nothing.content.decode()
    assert not InvoiceEvent.objects.exists()

    done = boss.post(
        f"{ROOM}?status=open", {"op": "status", "to_status": "paid", "reason": "wire 4711", "_selected_action": ids}
    )
    assert done.status_code == 302 and done["Location"] == f"{ROOM}?status=open"  # back to the same filters
    assert set(Invoice.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"paid"}
    assert set(
        InvoiceEvent.objects.values_list("invoice_id", "actor__email", "from_status", "to_status", "reason")
    ) == {
        (ids[0], "boss@example.com", "open", "paid", "wire 4711"),
        (ids[1], "boss@example.com", "open", "paid", "wire 4711"),
    }
    # Paid never moves back, and void is final: refused, said so, nothing written.
    refused = boss.post(
        ROOM,
        {"op": "status", "to_status": "failed", "reason": "x", "_selected_action": [ids[0], june["void"].pk]},
        follow=True,
    )
    text = refused.content.decode()
    assert "Refused" in text and "paid cannot become failed" in text and "void cannot become failed" in text
    paid_number = Invoice.objects.get(pk=ids[0]).number  # named as the list names it, not by the internal id
    assert f"{paid_number}: An invoice that is paid cannot become failed" in text and f"#{ids[0]}:" not in text
    assert InvoiceEvent.objects.count() == 2
    failed = boss.post(
        ROOM, {"op": "status", "to_status": "failed", "reason": "card declined", "_selected_action": [june["paid"].pk]}
    )
    assert failed.status_code == 302 and Invoice.objects.get(pk=june["paid"].pk).status == "paid"
    boss.post(ROOM, {"op": "status", "to_status": "failed", "reason": "bank says no", "_selected_action": ids[1:]})
    assert Invoice.objects.get(pk=ids[1]).status == "paid"
    boss.post(
        ROOM, {"op": "status", "to_status": "failed", "reason": "returned", "_selected_action": [june["failed"].pk]}
    )
    assert Invoice.objects.get(pk=june["failed"].pk).status == "failed"  # failed → failed is no move either


def test_mark_failed_moves_an_open_invoice(boss, june):
    boss.post(
        ROOM, {"op": "status", "to_status": "failed", "reason": "SEPA return", "_selected_action": [june["open2"].pk]}
    )
    assert Invoice.objects.get(pk=june["open2"].pk).status == "failed"
    event = InvoiceEvent.objects.get()
    assert (event.actor, event.from_status, event.to_status, event.reason) == (
        boss.user,
        "open",
        "failed",
        "SEPA return",
    )


def test_a_bad_target_status_is_a_form_error(boss, june):
    response = boss.post(
        ROOM, {"op": "status", "to_status": "void", "reason": "x", "_selected_action": [june["open1"].pk]}
    )
    assert response.status_code == 200 and "to_status" in response.context["status_form"].errors
    assert Invoice.objects.get(pk=june["open1"].pk).status == "open"


def test_generate_daily_invoices_for_an_ended_day(boss):
    ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500)
    with frozen(local(D + timedelta(days=2), 12)):
        response = boss.post(ROOM, {"op": "generate", "day": D.isoformat()}, follow=True)
    assert "Billed 2026-06-10: 1 new invoice(s), 1 line(s), 15.00 USD" in response.content.decode()
    invoice = Invoice.objects.get()
    assert (invoice.invoice_date, invoice.total_cents) == (D, 1500)
    assert BillingRun.objects.get().trigger == BillingRun.Trigger.ADMIN
    # Again: nothing new, nothing doubled.
    with frozen(local(D + timedelta(days=2), 12)):
        again = boss.post(ROOM, {"op": "generate", "day": D.isoformat()}, follow=True)
    assert "Billed 2026-06-10: 0 new invoice(s)" in again.content.decode()
    assert Invoice.objects.count() == 1


@pytest.mark.parametrize(
    ("now", "day"),
    [
        (local(D, 12), D),  # today
        (local(D, 12), D + timedelta(days=3)),  # the future
        (local(D + timedelta(days=1), 0, 5), D),  # ended 5 minutes ago: still inside the 15-minute grace
    ],
)
def test_generate_refuses_a_day_that_has_not_ended_with_a_form_error(boss, now, day):
    ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500)
    with frozen(now):
        response = boss.post(ROOM, {"op": "generate", "day": day.isoformat()})
    assert response.status_code == 200
    assert "has not ended" in " ".join(response.context["generate_form"].errors["day"])
    assert not Invoice.objects.exists() and not BillingRun.objects.exists()


def test_generate_with_no_day_is_a_form_error(boss):
    response = boss.post(ROOM, {"op": "generate", "day": ""})
    assert response.status_code == 200 and "day" in response.context["generate_form"].errors


def test_an_unknown_operation_is_refused(boss):
    assert boss.post(ROOM, {"op": "drop_tables"}).status_code == 400


def test_model_admins_are_linked_and_still_work(boss, june):
    html = boss.get(ROOM).content.decode()
    for url in ("/admin/billing/invoice/", "/admin/billing/billingrun/", "/admin/billing/pricingconfig/"):
        assert f'href="{url}"' in html
        assert boss.get(url).status_code == 200
    assert boss.get(f"/admin/billing/invoice/{june['open1'].pk}/change/").status_code == 200


def test_export_streams_the_filtered_invoices(boss, june):
    response = boss.get(EXPORT, {"status": "paid"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv") and "no-store" in response["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["number"], r["currency"], r["total_cents"], r["status"]) for r in rows] == [
        (june["eur"].number, "eur", "2000", "paid"),
        (june["paid"].number, "usd", "1000", "paid"),
    ]
    assert boss.get(EXPORT, {"date_from": "2026-06-05", "date_to": "2026-06-01"}).status_code == 400


def test_export_neutralises_formulas_in_emails(boss):
    evil = UserFactory(email="=cmd|'/c calc'!a1@example.com")
    builders.invoice(evil, D, 100)
    rows = list(csv.DictReader(io.StringIO(b"".join(boss.get(EXPORT).streaming_content).decode())))
    assert rows[0]["user_email"] == "'=cmd|'/c calc'!a1@example.com"


def _staff(client, *codenames: str):
    user = UserFactory(email="ops@example.com", role="staff")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="billing", codename__in=codenames))
    client.force_login(user)
    return client


def test_staff_without_billing_permissions_are_refused(client, june):
    _staff(client)
    assert client.get(ROOM).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert client.post(ROOM, {"op": "generate", "day": "2026-06-01"}).status_code == 403


def test_view_permission_sees_but_cannot_change(client, june):
    _staff(client, "view_invoice")
    page = client.get(ROOM)
    assert page.status_code == 200 and 'name="_selected_action"' not in page.content.decode()
    ids = [june["open1"].pk]
    assert (
        client.post(ROOM, {"op": "status", "to_status": "paid", "reason": "x", "_selected_action": ids}).status_code
        == 403
    )
    assert client.post(ROOM, {"op": "generate", "day": "2026-06-01"}).status_code == 403
    assert Invoice.objects.get(pk=ids[0]).status == "open"


def test_subscribers_and_anonymous_never_reach_the_room(client, subscriber, june):
    anonymous = client.get(ROOM)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    client.force_login(subscriber)
    assert client.get(ROOM, follow=True).status_code == 403
    response = client.post(
        ROOM, {"op": "status", "to_status": "paid", "reason": "x", "_selected_action": [june["open1"].pk]}
    )
    assert response.status_code == 302 and Invoice.objects.get(pk=june["open1"].pk).status == "open"
    assert client.get(EXPORT, follow=True).status_code == 403


def test_the_room_runs_a_fixed_number_of_queries(boss, june, django_assert_num_queries):
    user = UserFactory(email="bulk@example.com")
    for n in range(60):
        builders.invoice(user, date(2026, 4, 1) + timedelta(days=n), 100)
    with django_assert_num_queries(4):
        # 1 session, 2 user (admin_view's staff check), 3 billing_summary (one grouped query),
        # 4 the invoice page with each invoice's user (select_related), 51 rows fetched, no COUNT.
        response = boss.get(ROOM)
    assert response.status_code == 200 and len(response.context["invoices"]) == 50


@pytest.mark.parametrize(
    "params",
    [
        {"page": "²"},
        {"page": "99999999999999999999999"},
        {"user": "99999999999999999999"},
        {"user": "١٢"},  # Arabic-Indic digits: not an id
        {"month": "9999-12"},
        {"month": "0001-01"},
        {"date_from": "0001-01-01", "date_to": "9999-12-31"},
    ],
)
def test_odd_query_values_never_break_the_room(boss, june, params):
    response = boss.get(ROOM, params)
    assert response.status_code == 200
    assert boss.get(EXPORT, params).status_code in (200, 400)


def test_odd_selected_ids_are_ignored(boss, june):
    response = boss.post(
        ROOM, {"op": "status", "to_status": "paid", "reason": "x", "_selected_action": ["²", "9" * 30, "-1"]}
    )
    assert response.status_code == 200 and "Select at least one invoice." in response.content.decode()
    assert not InvoiceEvent.objects.exists()
