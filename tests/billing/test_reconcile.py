"""Reconciliation: local invoices against Stripe (found by metadata); drift stored for staff, resolved when gone."""

import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, StripeDrift
from billing.services import billing_reconcile, invoice_stripe_sync
from billing.tasks import billing_reconcile_task
from tests.billing.test_stripe_sync import local_invoice, with_card

pytestmark = pytest.mark.django_db
NOW = {"min_age": timedelta(0)}  # the fake's search has no index lag


@pytest.fixture(autouse=True)
def _invoices_made_today(monkeypatch):
    """The ledger helpers bill a fixed past day; reconciliation looks at invoices made in the last 35 days."""
    import tests.billing.test_stripe_sync as helpers

    make = helpers.local_invoice

    def recent(user, **kwargs):
        invoice = make(user, **kwargs)
        Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(hours=1))
        return Invoice.objects.get(pk=invoice.pk)

    monkeypatch.setattr(helpers, "local_invoice", recent)
    globals()["local_invoice"] = recent
    yield
    globals()["local_invoice"] = make


def open_drifts() -> list[tuple[str, str, str]]:
    return list(
        StripeDrift.objects.filter(resolved_at__isnull=True)
        .order_by("kind")
        .values_list("kind", "local_value", "stripe_value")
    )


def test_in_step_invoices_report_no_drift(fake_stripe, subscriber):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    invoice_stripe_sync(invoice_id=invoice.pk)

    assert billing_reconcile(**NOW) == {"checked": 1, "drift": 0, "resolved": 0}
    assert open_drifts() == []
    assert fake_stripe.requests("GET", "/v1/invoices/search")[-1].params["query"] == (
        f"metadata['jsn_invoice_id']:'{invoice.pk}'"
    )


def test_a_missed_webhook_shows_as_status_drift_until_applied(fake_stripe, subscriber):
    with_card(fake_stripe, subscriber, declines=True)
    invoice = local_invoice(subscriber)
    invoice_stripe_sync(invoice_id=invoice.pk)  # declined: failed locally
    fake_stripe.declining_payment_methods.clear()
    fake_stripe.expire_idempotency_keys()
    stripe_gateway.invoice_pay(stripe_invoice_id=Invoice.objects.get().stripe_invoice_id)  # Stripe's retry; no webhook

    billing_reconcile(**NOW)
    billing_reconcile(**NOW)  # a second run refreshes the same report

    assert open_drifts() == [("status", "failed", "paid")]
    invoice_stripe_sync(invoice_id=invoice.pk, force=True)  # staff: "Retry Stripe sync" reads Stripe's status
    assert Invoice.objects.get().status == "paid"
    assert billing_reconcile(**NOW)["resolved"] == 1
    assert open_drifts() == []
    assert StripeDrift.objects.count() == 1


def test_unlinked_and_amount_drift(fake_stripe, subscriber):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    invoice_stripe_sync(invoice_id=invoice.pk)
    stripe_id = Invoice.objects.get().stripe_invoice_id
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id=None, subtotal_cents=2100, total_cents=2100)

    billing_reconcile(**NOW)

    assert open_drifts() == [("amount", "2100", "2000"), ("unlinked", "", stripe_id)]


def test_missing_at_stripe(fake_stripe, subscriber):
    invoice = local_invoice(subscriber)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_gone", status=Invoice.Status.FAILED)

    billing_reconcile(**NOW)

    assert open_drifts() == [("missing_at_stripe", "failed", "")]


def test_command_reports_and_needs_stripe(fake_stripe, subscriber, settings):
    invoice = local_invoice(subscriber)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_gone", status=Invoice.Status.FAILED)
    out = io.StringIO()

    call_command("billing_reconcile", stdout=out)

    assert "1 difference(s)" in out.getvalue() and invoice.number in out.getvalue()
    settings.STRIPE_ENABLED = False
    with pytest.raises(CommandError, match="not connected"):
        call_command("billing_reconcile")


def test_admin_lists_drift(fake_stripe, client, subscriber):
    from tests.factories import UserFactory

    invoice = local_invoice(subscriber)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id="in_gone", status=Invoice.Status.FAILED)
    billing_reconcile(**NOW)
    client.force_login(UserFactory(email="boss@example.com", is_superuser=True))

    html = client.get("/admin/billing/stripedrift/").content.decode()

    assert invoice.number in html and "Not at Stripe" in html


def test_reconcile_runs_daily_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["billing-reconcile"]
    assert entry["task"] == "billing.tasks.billing_reconcile_task"
    assert billing_reconcile_task.name == entry["task"]


def test_settled_invoices_are_rechecked_only_while_recent(fake_stripe, subscriber):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    invoice_stripe_sync(invoice_id=invoice.pk)
    Invoice.objects.filter(pk=invoice.pk).update(created_at=timezone.now() - timedelta(days=10))

    assert billing_reconcile(**NOW)["checked"] == 0  # paid 10 days ago: checked when it was new

    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.FAILED)
    assert billing_reconcile(**NOW)["checked"] == 1  # unsettled: checked every day of the window
