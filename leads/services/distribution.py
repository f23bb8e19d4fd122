"""Plan deliveries: a fair first recipient per PLZ, the others after the exclusive window."""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from leads.models import (
    Delivery,
    Lead,
    PlzRotation,
    PlzSubscription,
    eligible_subscriptions_q,
)
from leads.services.common import (
    _hours,
)

logger = logging.getLogger(__name__)


def _rotation_key(turns: dict, user_id: int, index: int) -> tuple[float, int]:
    """Smaller = has waited longer for a first position. Newcomers rank as if their wait began when they joined."""
    entry = turns.get(str(user_id)) or {}
    if entry.get("turn") is not None:
        return (float(entry["turn"]), index)
    return (float(entry.get("joined", 0)) - 0.5, index)


def _rotation_locked(*, plz: str) -> PlzRotation:
    """The PLZ's rotation row, locked: concurrent distributions in one PLZ take turns in order."""
    rotation = PlzRotation.objects.select_for_update().filter(plz=plz).first()
    if rotation is None:
        try:
            with transaction.atomic():
                PlzRotation.objects.create(plz=plz)
        except IntegrityError:  # another distribution created it first
            pass
        rotation = PlzRotation.objects.select_for_update().get(plz=plz)
    return rotation


def _leads_plan(*, leads: list[Lead], now: datetime) -> int:
    """Create the deliveries of these leads (saved, inside the caller's transaction); returns how many.

    Per PLZ: the eligible subscribers are read once and the rotation row is locked once (PLZs in sorted order, so
    concurrent batches never deadlock); leads take their first recipient in order.
    """
    by_plz: dict[str, list[Lead]] = {}
    for lead in leads:
        by_plz.setdefault(lead.plz, []).append(lead)
    deliveries: list[Delivery] = []
    window_end = now + timedelta(hours=_hours())
    for plz in sorted(by_plz):
        user_ids = list(
            dict.fromkeys(
                PlzSubscription.objects.filter(eligible_subscriptions_q(now), plz=plz, user__is_active=True)
                .order_by("created_at", "id")
                .values_list("user_id", flat=True)
            )
        )
        if not user_ids:
            continue
        rotation = _rotation_locked(plz=plz)
        turns = dict(rotation.turns)
        for uid in user_ids:
            turns.setdefault(str(uid), {"turn": None, "joined": rotation.counter})
        for lead in by_plz[plz]:
            first_id = min(user_ids, key=lambda uid: _rotation_key(turns, uid, user_ids.index(uid)))
            rotation.counter += 1
            turns[str(first_id)] = {"turn": rotation.counter, "at": now.isoformat()}
            for uid in user_ids:
                is_first = uid == first_id
                deliveries.append(
                    Delivery(
                        lead=lead,
                        subscriber_id=uid,
                        position=Delivery.Position.FIRST if is_first else Delivery.Position.OTHER,
                        due_at=now if is_first else window_end,
                    )
                )
        rotation.turns = turns
        rotation.save(update_fields=["counter", "turns", "updated_at"])
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return len(deliveries)


def lead_distribute(*, lead_id: int, now: datetime | None = None) -> int:
    """Plan the deliveries of a ready lead; returns how many were planned (0 if it was not ready).

    One eligible subscriber: due now. Several: the one who waited longest for a first position is due now and
    holds the lead exclusively for LEAD_EXCLUSIVE_HOURS; the others are due when that window ends.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None or lead.status != Lead.Status.READY or not lead.plz:
            return 0
        planned = _leads_plan(leads=[lead], now=now)
        lead.status = Lead.Status.DISTRIBUTED
        lead.distributed_at = now
        lead.save(update_fields=["status", "distributed_at"])
    return planned


def leads_distribute_ready(*, now: datetime | None = None, limit: int = 500) -> int:
    """Sweep: plan every lead left ready (e.g. a crash between import and planning). Harmless to repeat."""
    planned = 0
    for lead_id in Lead.objects.filter(status=Lead.Status.READY).order_by("id").values_list("id", flat=True)[:limit]:
        planned += lead_distribute(lead_id=lead_id, now=now)
    return planned
