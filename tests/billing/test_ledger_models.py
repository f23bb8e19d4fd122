"""Invoice lines are history; invoices move status only forward, audited; pricing changes are new versions."""

from datetime import date, datetime, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.models import BillingCursor, BillingRun, Invoice, InvoiceEvent, InvoiceLine, PricingConfig
from billing.pricing import DEFAULT_BANDS, PricingError, bands_to_data
from billing.selectors import pricing_quote_for
from billing.services import (
    BillingError,
    invoice_mark_failed,
    invoice_mark_paid,
    invoice_void,
    pricing_config_publish,
)
from claims.models import Claim
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import frozen, local, run_on
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

D = date(2026, 6, 10)


@pytest.fixture
def invoice() -> Invoice:
    ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500)
    run_on(D + timedelta(days=1))
    return Invoice.objects.get()


def test_a_written_line_cannot_be_changed_or_deleted(invoice):
    line = invoice.lines.get()
    line.amount_cents = 1
    with pytest.raises(Exception, match="never change"):
        line.save()
    with pytest.raises(Exception, match="never change"):
        line.delete()
    with pytest.raises(Exception, match="never change"):
        InvoiceLine.objects.filter(pk=line.pk).update(amount_cents=1)
    with pytest.raises(Exception, match="never change"):
        InvoiceLine.objects.filter(pk=line.pk).delete()
    assert InvoiceLine.objects.get(pk=line.pk).amount_cents == 1500


@pytest.mark.postgres
def test_the_database_refuses_raw_sql_edits_of_lines(invoice):
    line = invoice.lines.get()
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE billing_invoiceline SET amount_cents = 1 WHERE id = %s", [line.pk])
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM billing_invoiceline WHERE id = %s", [line.pk])
    assert InvoiceLine.objects.get(pk=line.pk).amount_cents == 1500


def test_a_claim_day_cannot_be_charged_twice_even_bypassing_the_job(invoice):
    line = invoice.lines.get()
    other = Invoice.objects.create(
        user=invoice.user,
        invoice_date=D + timedelta(days=5),
        number="X-1",
        currency="usd",
        subtotal_cents=1500,
        total_cents=1500,
        due_date=D + timedelta(days=6),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceLine.objects.create(
            invoice=other,
            claim_id=line.claim_id,
            case_id=line.case_id,
            description="again",
            service_date=line.service_date,
            unit_amount_cents=1500,
            amount_cents=1500,
        )
    # A credit for it, on a later invoice, is how a correction is made.
    InvoiceLine.objects.create(
        invoice=other,
        claim_id=line.claim_id,
        case_id=line.case_id,
        description="Credit",
        service_date=line.service_date,
        unit_amount_cents=-1500,
        amount_cents=-1500,
        credit_for=line,
    )


def test_a_second_invoice_for_the_same_user_day_is_refused_by_the_database(invoice):
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.create(
            user=invoice.user,
            invoice_date=invoice.invoice_date,
            number="X-2",
            currency="usd",
            subtotal_cents=0,
            total_cents=0,
            due_date=D,
        )


def test_status_changes_are_audited_and_paid_never_goes_back(invoice, staff_user):
    invoice_mark_failed(invoice_id=invoice.pk, actor=staff_user, reason="card declined")
    invoice_mark_paid(invoice_id=invoice.pk, actor=staff_user, reason="paid by bank transfer")
    invoice.refresh_from_db()
    assert invoice.status == "paid" and invoice.paid_at is not None
    assert list(InvoiceEvent.objects.order_by("id").values_list("from_status", "to_status", "actor", "reason")) == [
        ("open", "failed", staff_user.pk, "card declined"),
        ("failed", "paid", staff_user.pk, "paid by bank transfer"),
    ]
    for change in (invoice_void, invoice_mark_failed):
        with pytest.raises(BillingError):
            change(invoice_id=invoice.pk, actor=staff_user, reason="oops")
    with pytest.raises(BillingError, match="reason"):
        invoice_void(invoice_id=invoice.pk, actor=staff_user, reason="  ")
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_without_a_pricing_version_the_flat_default_applies(settings):
    quote = pricing_quote_for(score=90)
    assert (quote.daily_price_cents, quote.currency, quote.pricing_version) == (
        settings.DEFAULT_DAILY_PRICE_CENTS,
        settings.DEFAULT_CURRENCY,
        None,
    )


def test_publishing_pricing_makes_a_new_active_version_and_leaves_claims_alone(staff_user):
    v1 = pricing_config_publish(actor=staff_user, model="banded", currency="USD", bands=bands_to_data(DEFAULT_BANDS))
    assert (v1.version, v1.is_active, v1.currency) == (1, True, "usd")
    assert [pricing_quote_for(score=s).daily_price_cents for s in (39, 40, 79, 80)] == [250, 500, 1000, 1500]
    claim = ClaimFactory(daily_price_cents=1500, pricing_version=1)
    v2 = pricing_config_publish(actor=staff_user, model="flat", currency="usd", flat_price_cents=700)
    assert v2.version == 2 and pricing_quote_for(score=80) == pricing_quote_for(score=0)
    assert pricing_quote_for(score=80).daily_price_cents == 700 and pricing_quote_for(score=80).pricing_version == 2
    assert list(PricingConfig.objects.filter(is_active=True)) == [v2]
    claim.refresh_from_db()
    assert (claim.daily_price_cents, claim.pricing_version) == (1500, 1)


def test_invalid_pricing_is_refused(staff_user):
    with pytest.raises(PricingError, match="No band covers"):
        pricing_config_publish(
            actor=staff_user,
            model="banded",
            currency="usd",
            bands=[{"min_score": 0, "max_score": 50, "price_cents": 1}],
        )
    config = PricingConfig(version=9, model="multiplier", currency="usd", floor_cents=10, ceiling_cents=5)
    with pytest.raises(ValidationError):
        config.clean()
    assert not PricingConfig.objects.exists()


def test_bill_daily_command_dry_run_prints_and_writes_nothing():
    ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1234)
    out = StringIO()
    with frozen(local(D + timedelta(days=1), 3)):
        call_command("bill_daily", "--dry-run", "--no-stripe", stdout=out, verbosity=0)
    text = out.getvalue()
    assert "DRY RUN" in text and "1 users, 1 invoices, 1 lines" in text and "12.34 USD" in text
    assert not Invoice.objects.exists() and not BillingRun.objects.exists()


def test_bill_daily_command_bills_a_date_and_a_backfill():
    user = UserFactory()
    ClaimFactory(user=user, claimed_at=local(D, 9), daily_price_cents=100)
    out = StringIO()
    with frozen(local(D + timedelta(days=10), 3)):
        call_command("bill_daily", "--date", str(D + timedelta(days=2)), stdout=out, verbosity=0)
        assert list(Invoice.objects.values_list("invoice_date", flat=True)) == [D + timedelta(days=2)]
        call_command("bill_daily", "--backfill-from", str(D), "--user", str(user.pk), stdout=out, verbosity=0)
        assert Invoice.objects.count() == 10
        assert "Billed" in out.getvalue() and "9 invoices" in out.getvalue()
        with pytest.raises(CommandError, match="not ended"):
            call_command("bill_daily", "--date", str(D + timedelta(days=10)), stdout=out)
        with pytest.raises(CommandError):
            call_command("bill_daily", "--date", "yesterday", stdout=out)


def test_bill_daily_task_runs_the_job():
    from billing.tasks import bill_daily_task

    ClaimFactory(claimed_at=local(D, 9))
    with frozen(local(D + timedelta(days=1), 0, 15)):
        result = bill_daily_task()
        assert result["invoices"] == 1
        assert bill_daily_task()["invoices"] == 0
    assert BillingRun.objects.filter(trigger="beat").count() == 2


def test_beat_schedules_the_daily_job_at_00_15(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["bill-daily"]
    assert entry["task"] == "billing.tasks.bill_daily_task"
    assert (entry["schedule"].hour, entry["schedule"].minute) == ({0}, {15})
    assert settings.CELERY_TIMEZONE == settings.BILLING_TIME_ZONE


def test_a_correction_is_a_credit_line_on_a_later_invoice_and_totals_follow(staff_user):
    from billing.services import invoice_line_credit

    claim = ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500)
    run_on(D + timedelta(days=1))
    charge = InvoiceLine.objects.get(service_date=D)
    with pytest.raises(BillingError, match="no later open invoice"):
        invoice_line_credit(line_id=charge.pk, actor=staff_user, reason="case withdrawn")
    run_on(D + timedelta(days=2))
    credit = invoice_line_credit(line_id=charge.pk, actor=staff_user, reason="case withdrawn")
    later = Invoice.objects.get(user=claim.user, invoice_date=D + timedelta(days=1))
    assert (credit.invoice_id, credit.amount_cents, credit.credit_for_id) == (later.pk, -1500, charge.pk)
    assert (later.subtotal_cents, later.total_cents) == (0, 0)  # 1500 charge for D+1, -1500 credit for D
    assert Invoice.objects.get(pk=charge.invoice_id).total_cents == 1500  # history untouched
    assert InvoiceEvent.objects.filter(invoice=later, actor=staff_user, reason__contains="case withdrawn").exists()
    with pytest.raises(BillingError, match="once"):
        invoice_line_credit(line_id=charge.pk, actor=staff_user, reason="again")
    from tests.billing.helpers import assert_ledger_consistent

    assert_ledger_consistent()


def test_a_credit_never_lands_on_an_invoice_already_sent_to_stripe(staff_user):
    from billing.services import invoice_line_credit

    claim = ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500)
    run_on(D + timedelta(days=2))
    later = Invoice.objects.get(user=claim.user, invoice_date=D + timedelta(days=1))
    Invoice.objects.filter(pk=later.pk).update(stripe_invoice_id="in_already_at_stripe")
    charge = InvoiceLine.objects.get(service_date=D)
    with pytest.raises(BillingError, match="no later open invoice"):
        invoice_line_credit(line_id=charge.pk, actor=staff_user, reason="case withdrawn")
    later.refresh_from_db()
    assert later.total_cents == 1500 and not InvoiceLine.objects.filter(credit_for=charge).exists()


def test_currency_switch_is_refused_while_claims_in_the_old_currency_have_days_to_bill(staff_user):
    """One invoice per user-day holds one currency: a switch would leave those claims unbillable."""
    pricing_config_publish(actor=staff_user, model="flat", currency="usd", flat_price_cents=500)
    claim = ClaimFactory(currency="usd")

    with pytest.raises(BillingError, match=r"1 claim\(s\) priced in USD still have days to bill"):
        pricing_config_publish(actor=staff_user, model="flat", currency="eur", flat_price_cents=450)
    assert PricingConfig.objects.get(is_active=True).currency == "usd"  # nothing changed

    # Released on the 10th, but the user is billed only through the 9th: the 10th is still to bill in USD.
    released = timezone.make_aware(datetime(2026, 3, 10, 15, 0))
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.RELEASED, released_at=released)
    BillingCursor.objects.create(user=claim.user, processed_through=date(2026, 3, 9))
    with pytest.raises(BillingError):
        pricing_config_publish(actor=staff_user, model="flat", currency="eur", flat_price_cents=450)

    BillingCursor.objects.filter(user=claim.user).update(processed_through=date(2026, 3, 11))
    eur = pricing_config_publish(actor=staff_user, model="flat", currency="eur", flat_price_cents=450)
    assert (eur.version, eur.currency, eur.is_active) == (2, "eur", True)
    # The same currency never needs the check, whatever is held.
    ClaimFactory(currency="eur")
    assert pricing_config_publish(actor=staff_user, model="flat", currency="eur", flat_price_cents=400).version == 3
