"""Admin API for invoices: GET /api/v3/admin/billing/invoices (filters, pages without count) and
POST /api/v3/admin/billing/invoices/{id}/mark-paid (audited, never regresses)."""

from datetime import date

import pytest
from django.contrib.auth.models import Permission

from billing.models import Invoice, InvoiceEvent
from tests.backoffice import builders
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v3/admin/billing/invoices"


def mark_paid_url(invoice_id: int) -> str:
    return f"/api/v3/admin/billing/invoices/{invoice_id}/mark-paid"


@pytest.fixture
def ops(api_client):
    """A staff member holding the billing permissions the admin asks for (not a superuser)."""
    user = UserFactory(email="ops@example.com", role="staff")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="billing", codename__in=["view_invoice", "change_invoice"])
    )
    api_client.force_authenticate(user)
    api_client.user = user
    return api_client


@pytest.fixture
def book():
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    return {
        "open": builders.invoice(alice, date(2026, 6, 1), 1500),
        "paid": builders.invoice(alice, date(2026, 6, 2), 1000, status="paid"),
        "failed": builders.invoice(bob, date(2026, 6, 3), 700, status="failed"),
        "void": builders.invoice(bob, date(2026, 6, 4), 300, status="void"),
        "draft": builders.invoice(bob, date(2026, 6, 5), 200, status="draft"),
        "eur": builders.invoice(alice, date(2026, 6, 6), 2000, currency="eur"),
    }


def _numbers(response) -> list[str]:
    return [row["number"] for row in response.json()["results"]]


def test_list_is_newest_first_with_the_user(ops, book):
    response = ops.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and body["previous"] is None and "count" not in body
    first = body["results"][0]
    assert first == {
        "id": book["eur"].pk,
        "number": book["eur"].number,
        "user": {"id": book["eur"].user_id, "email": "alice@example.com"},
        "invoice_date": "2026-06-06",
        "status": "open",
        "currency": "eur",
        "subtotal_cents": 2000,
        "tax_cents": 0,
        "total_cents": 2000,
        "due_date": "2026-06-07",
        "paid_at": None,
        "stripe_invoice_id": None,
        "stripe_sync_error": "",
    }
    assert len(body["results"]) == 6


def test_list_filters(ops, book):
    n = {k: v.number for k, v in book.items()}
    assert _numbers(ops.get(LIST, {"status": "failed"})) == [n["failed"]]
    assert _numbers(ops.get(LIST, {"user": "Bob@Example.com"})) == [n["draft"], n["void"], n["failed"]]
    assert _numbers(ops.get(LIST, {"user": str(book["open"].user_id), "currency": "usd"})) == [n["paid"], n["open"]]
    assert _numbers(ops.get(LIST, {"date_from": "2026-06-02", "date_to": "2026-06-03"})) == [n["failed"], n["paid"]]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "lost"}, "invalid"),
        ({"date_from": "2026-06-09", "date_to": "2026-06-01"}, "invalid"),
        ({"date_to": "soon"}, "invalid"),
        ({"user": "alice"}, "invalid"),
        ({"sort": "total_cents"}, "unknown_parameter"),
        ({"page": "0"}, "invalid"),
        ({"page_size": "101"}, "invalid"),
    ],
)
def test_bad_filters_answer_400_with_a_code(ops, book, params, code):
    response = ops.get(LIST, params)
    assert response.status_code == 400 and response.json()["code"] == code


def test_pages_follow_next_without_a_count(ops):
    user = UserFactory()
    for day in range(1, 6):
        builders.invoice(user, date(2026, 6, day), 100)
    first = ops.get(LIST, {"page_size": 2}).json()
    assert [r["invoice_date"] for r in first["results"]] == ["2026-06-05", "2026-06-04"]
    third = ops.get(first["next"].replace("page=2", "page=3")).json()
    assert [r["invoice_date"] for r in third["results"]] == ["2026-06-01"] and third["next"] is None


def test_list_runs_a_fixed_number_of_queries(ops, django_assert_num_queries):
    user = UserFactory()
    for day in range(1, 29):
        builders.invoice(user, date(2026, 2, day), 100)
    with django_assert_num_queries(3):
        # 1–2 the permission check loads the staff member's user and group permissions (no superuser shortcut),
        # 3 the page of invoices with their users (select_related), no COUNT.
        response = ops.get(LIST, {"page_size": 25})
    assert len(response.json()["results"]) == 25


def test_mark_paid_is_audited(ops, book):
    response = ops.post(mark_paid_url(book["open"].pk), {"reason": "bank transfer 0815"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"]) == (book["open"].pk, "paid") and body["paid_at"]
    invoice = Invoice.objects.get(pk=book["open"].pk)
    assert invoice.status == "paid" and invoice.paid_at is not None
    event = InvoiceEvent.objects.get()
    assert (event.invoice_id, event.actor, event.from_status, event.to_status, event.reason) == (
        invoice.pk,
        ops.user,
        "open",
        "paid",
        "bank transfer 0815",
    )


def test_a_failed_invoice_can_be_marked_paid(ops, book):
    assert ops.post(mark_paid_url(book["failed"].pk), {"reason": "paid by phone"}, format="json").status_code == 200
    assert Invoice.objects.get(pk=book["failed"].pk).status == "paid"


@pytest.mark.parametrize(
    ("key", "code", "status"),
    [
        ("paid", "already_paid", "paid"),
        ("void", "invalid_transition", "void"),
        ("draft", "invalid_transition", "draft"),
    ],
)
def test_mark_paid_refuses_what_cannot_move_with_409(ops, book, key, code, status):
    invoice = book[key]
    paid_at_before = invoice.paid_at
    response = ops.post(mark_paid_url(invoice.pk), {"reason": "again"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == code and response.json()["status"] == status
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_at) == (status, paid_at_before)
    assert not InvoiceEvent.objects.exists()


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}, [1, 2]])
def test_mark_paid_needs_a_reason(ops, book, body):
    response = ops.post(mark_paid_url(book["open"].pk), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_reason"
    assert Invoice.objects.get(pk=book["open"].pk).status == "open" and not InvoiceEvent.objects.exists()


@pytest.mark.parametrize("invoice_id", [999_999, 2**63])
def test_mark_paid_unknown_invoice_is_404(ops, invoice_id):
    response = ops.post(mark_paid_url(invoice_id), {"reason": "x"}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_staff_without_the_billing_permissions_are_refused(api_client, book):
    bare = UserFactory(email="bare@example.com", role="staff")
    api_client.force_authenticate(bare)
    assert api_client.get(LIST).status_code == 403
    viewer = UserFactory(email="viewer@example.com", role="staff")
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="billing", codename="view_invoice"))
    api_client.force_authenticate(viewer)
    assert api_client.get(LIST).status_code == 200
    refused = api_client.post(mark_paid_url(book["open"].pk), {"reason": "x"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert Invoice.objects.get(pk=book["open"].pk).status == "open"


def test_subscribers_and_anonymous_are_refused(api_client, subscriber, book):
    assert api_client.get(LIST).status_code == 401
    assert api_client.post(mark_paid_url(book["open"].pk), {"reason": "x"}, format="json").status_code == 401
    api_client.force_authenticate(subscriber)
    assert api_client.get(LIST).status_code == 403
    assert api_client.post(mark_paid_url(book["open"].pk), {"reason": "x"}, format="json").status_code == 403
    assert Invoice.objects.get(pk=book["open"].pk).status == "open"


@pytest.mark.parametrize("params", [{"user": "99999999999999999999"}, {"page": "²"}, {"date_to": "9999-12-31"}])
def test_odd_query_values_are_answered_not_crashed(ops, book, params):
    assert ops.get(LIST, params).status_code in (200, 400)
