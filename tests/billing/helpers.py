"""Shared checks for billing tests."""

from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.conf import settings
from django.db.models import Sum

from billing.models import Invoice, InvoiceLine
from billing.services import BillingSummary, billing_run


def local(day: date, hh: int = 0, mm: int = 0, tz: str | None = None) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(tz or settings.BILLING_TIME_ZONE))


@contextmanager
def frozen(at: datetime):
    with time_machine.travel(at, tick=False):
        yield


def run_on(day: date, **kwargs) -> BillingSummary:
    """The daily job as Beat fires it: 00:15 on `day` in BILLING_TIME_ZONE (bills the days before it)."""
    with frozen(local(day, 0, 15)):
        return billing_run(**kwargs)


def assert_ledger_consistent() -> None:
    """What a customer would check: every invoice adds up, and no claim-day or user-day appears twice."""
    sums = dict(InvoiceLine.objects.values_list("invoice_id").annotate(s=Sum("amount_cents")).order_by())
    for invoice in Invoice.objects.all():
        assert invoice.subtotal_cents == sums.get(invoice.pk, 0), invoice.number
        assert invoice.total_cents == invoice.subtotal_cents + invoice.tax_cents, invoice.number
        assert invoice.subtotal_cents == sums[invoice.pk] and invoice.total_cents >= 0
    user_days = Counter(Invoice.objects.values_list("user_id", "invoice_date"))
    assert not [k for k, n in user_days.items() if n > 1]
    claim_days = Counter(InvoiceLine.objects.filter(credit_for__isnull=True).values_list("claim_id", "service_date"))
    assert not [k for k, n in claim_days.items() if n > 1]


def billed_days(user) -> list[date]:
    return list(Invoice.objects.filter(user=user).order_by("invoice_date").values_list("invoice_date", flat=True))


def days(first: date, n: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(n)]
