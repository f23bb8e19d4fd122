"""Celery adapters: each takes ids (never objects), calls a service, and is harmless when run twice."""

import logging
from collections import defaultdict
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from billing.pdf import money
from claims import services
from claims.models import Claim, ClaimEvent
from jsn.lib.mail import send_notice
from outbox.services import outbox_handler

logger = logging.getLogger(__name__)

WARNING_SUBJECT = "Your claim on {n} case(s) expires soon"
NOTICE_SUBJECT = "Changes to your claimed cases"


def _case_line(case_id: int, county: str, state: str) -> str:
    # Only public case fields: the e-mail may outlive the recipient's ownership.
    return f"- Case #{case_id} ({county} County, {state}): {settings.SITE_URL}{reverse('case_detail', args=[case_id])}"


def _expiry_text(value: datetime | None) -> str:
    return "never" if value is None else f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


@shared_task
def expire_claims_task() -> int:
    """Every minute (Beat): release claims past their expiry. Overlapping runs are harmless (see claims_expire)."""
    return services.claims_expire(now=timezone.now())


@shared_task
def warn_expiring_claims_task() -> int:
    """Daily: one e-mail per user listing their claims that expire before the end of tomorrow. Each
    (claim, expiry) is warned once: marked before sending, un-marked if the send fails."""
    sent = 0
    for user_id, claim_ids in services.claims_warn_expiring(now=timezone.now()):
        claims = list(
            Claim.objects.filter(pk__in=claim_ids)
            .select_related("user", "case")
            .only("id", "expires_at", "user__email", "case__id", "case__county", "case__state")
            .order_by("expires_at", "id")
        )
        if not claims:
            continue
        lines = [
            f"{_case_line(c.case_id, c.case.county, c.case.state)} — expires {c.expires_at:%Y-%m-%d %H:%M} UTC"
            for c in claims
        ]
        paragraphs = [
            "These claims expire within a day; after that the cases are released and their details hidden.",
            "\n".join(lines),
            f"Your claims: {settings.SITE_URL}{reverse('my_claims')}",
        ]
        try:
            send_notice(to=claims[0].user.email, subject=WARNING_SUBJECT.format(n=len(claims)), paragraphs=paragraphs)
        except Exception:
            services.claims_unmark_warned(claim_ids=claim_ids)
            logger.exception("Expiry warning to user %s failed; it will be retried on the next run", user_id)
            raise
        sent += len(claims)
    return sent


@outbox_handler(services.CLAIM_NOTICES)
def send_claim_event_notices(*, event_ids: list[int], user_id: int | None = None) -> int:
    """Tell owners about changes someone else made (release by staff, expiry, reassignment, a new expiry date): one
    e-mail per user, only to `user_id` when given. Called by the outbox (outbox.services.outbox_deliver), once per
    message."""
    events = (
        ClaimEvent.objects.filter(pk__in=event_ids)
        .select_related("case", "claim")
        .only(
            "id",
            "action",
            "reason",
            "from_user_id",
            "to_user_id",
            "expires_before",
            "expires_after",
            "case__id",
            "case__county",
            "case__state",
            "claim__daily_price_cents",
            "claim__currency",
        )
        .order_by("created_at", "id")
    )
    per_user: dict[int, list[str]] = defaultdict(list)
    for event in events:
        line = _case_line(event.case_id, event.case.county, event.case.state)
        why = f" Reason: {event.reason}" if event.reason else ""
        if event.from_user_id:
            verb = {"released": "released", "expired": "expired", "reassigned": "reassigned to another user"}
            per_user[event.from_user_id].append(f"{line}\n  Your claim was {verb[event.action]}.{why}")
        if event.action == ClaimEvent.Action.REASSIGNED and event.to_user_id:
            # The new owner holds it from now on, at the claim's frozen price: say how much, and how to stop.
            price = money(event.claim.daily_price_cents, event.claim.currency)
            per_user[event.to_user_id].append(
                f"{line}\n  This case was assigned to you.{why}\n"
                f"  Its daily price is {price}, fixed at the assignment; release it when you no longer want it."
            )
        if event.action == ClaimEvent.Action.EXPIRY_CHANGED and event.to_user_id:
            change = f"from {_expiry_text(event.expires_before)} to {_expiry_text(event.expires_after)}"
            per_user[event.to_user_id].append(f"{line}\n  The expiry of your claim was changed {change}.{why}")
    if user_id is not None:
        per_user = {user_id: per_user[user_id]} if user_id in per_user else {}
    emails = dict(User.objects.filter(pk__in=per_user).values_list("pk", "email"))
    for user_id, lines in per_user.items():
        send_notice(
            to=emails[user_id],
            subject=NOTICE_SUBJECT,
            paragraphs=[
                "There are changes to cases you hold or held on JSN:",
                "\n".join(lines),
                f"Your claims: {settings.SITE_URL}{reverse('my_claims')}",
            ],
        )
    return len(per_user)


@shared_task
def notify_claim_events_task(event_ids: list[int]) -> int:
    """The pre-outbox task: kept so that messages queued before an upgrade are still sent. New notices go through
    the outbox (claims.services._on_commit_notify); nothing queues this task any more."""
    return send_claim_event_notices(event_ids=event_ids)
