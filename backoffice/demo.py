"""Demo history for the operations dashboard: claims over the past days, billed by the real billing run.

Only `manage.py seed_demo` (and the browser test that photographs the dashboard) call this. Claims are written as
the claim service would have written them on their day (rows and audit events); the invoices come from
`billing_run` itself, then move to the status Stripe would have given them, through the audited status service.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing import ledger
from billing.models import BillingRun, Invoice
from billing.selectors import pricing_quote_for
from billing.services import billing_run, billing_time_zone, invoice_set_status
from cases.models import Case
from claims.models import Claim, ClaimEvent

DEMO_RELEASE_REASON = "Demo history"


@dataclass(frozen=True)
class DemoHistory:
    claims: int
    invoices: int


def demo_history_seed(
    *, users: Sequence[User], cases: Sequence[Case], days: int = 90, seed: int = 2026, failing: User | None = None
) -> DemoHistory:
    """Claims by `users` on `cases` over the last `days` days (growing over time, held 2–30 days, all ended by
    today), billed for every past day; invoices older than two days are paid, except those of `failing` (whose
    latest one failed). Does nothing when any of these users has ever held a claim: safe to run on every start."""
    if not users or Claim.objects.filter(user__in=users).exists():
        return DemoHistory(0, 0)
    rng = random.Random(seed)
    tz = billing_time_zone()
    now = timezone.now()
    today = now.astimezone(tz).date()
    free_cases = [case for case in cases if case.is_claimable and case.assigned_to_id is None]
    rng.shuffle(free_cases)
    today_start = ledger.day_start(today, tz)
    claims: list[Claim] = []
    for ago in range(days, 0, -1):
        day_start = ledger.day_start(today - timedelta(days=ago), tz)
        growth = 1 + (days - ago) / days  # the business grows: twice as many claims a day by the end
        for _ in range(rng.choices([0, 1, 2, 3], weights=[3, 4, 3, 2])[0] + round(growth * rng.random())):
            if not free_cases:
                break
            user = rng.choice(users)
            claimed_at = day_start + timedelta(hours=rng.randint(8, 20), minutes=rng.randint(0, 59))
            released_at = claimed_at + timedelta(days=rng.randint(2, 30), hours=rng.randint(0, 6))
            # Every demo claim has ended by today: the demo accounts start with nothing claimed (claims are theirs
            # to make), and yesterday's are released late in the day, after the grace period.
            released_at = min(released_at, max(claimed_at + timedelta(hours=2), today_start - timedelta(hours=1)))
            case = free_cases.pop()
            quote = pricing_quote_for(score=case.score)
            claims.append(
                Claim(
                    case=case,
                    user=user,
                    status=Claim.Status.RELEASED,
                    claimed_at=claimed_at,
                    released_at=released_at,
                    release_reason=DEMO_RELEASE_REASON,
                    score_at_claim=case.score,
                    daily_price_cents=quote.daily_price_cents,
                    currency=quote.currency,
                    pricing_version=quote.pricing_version,
                )
            )
    with transaction.atomic():
        Claim.objects.bulk_create(claims)
        events = []
        for claim in claims:
            events.append(
                ClaimEvent(
                    action=ClaimEvent.Action.CLAIMED,
                    actor=claim.user,
                    case=claim.case,
                    claim=claim,
                    to_user=claim.user,
                    created_at=claim.claimed_at,
                )
            )
            events.append(
                ClaimEvent(
                    action=ClaimEvent.Action.RELEASED,
                    actor=claim.user,
                    case=claim.case,
                    claim=claim,
                    from_user=claim.user,
                    reason=DEMO_RELEASE_REASON,
                    created_at=claim.released_at,
                )
            )
        ClaimEvent.objects.bulk_create(events)
    summary = billing_run(since=today - timedelta(days=days), trigger=BillingRun.Trigger.COMMAND, stripe=False)
    settled_before = today - timedelta(days=2)
    invoices = Invoice.objects.filter(user__in=users, invoice_date__lt=settled_before, status=Invoice.Status.OPEN)
    for invoice in invoices.order_by("invoice_date").only("id", "user_id"):
        if failing is None or invoice.user_id != failing.pk:
            invoice_set_status(invoice_id=invoice.pk, to_status=Invoice.Status.PAID, actor=None, reason="Demo: paid")
    if failing is not None:
        latest = Invoice.objects.filter(user=failing, status=Invoice.Status.OPEN).order_by("-invoice_date").first()
        if latest is not None:
            invoice_set_status(
                invoice_id=latest.pk, to_status=Invoice.Status.FAILED, actor=None, reason="Demo: card declined"
            )
    return DemoHistory(claims=len(claims), invoices=summary.invoices)
