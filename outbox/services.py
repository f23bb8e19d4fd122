"""The transactional outbox: promise work in the transaction that makes a change, deliver it once afterwards.

    with transaction.atomic():
        ...change rows...
        outbox_enqueue(kind="claims.event_notices", payload={"event_ids": [...]})

After commit a Celery task is nudged to deliver the message at once (fast path, best effort: the broker may be
down). Beat runs `outbox_sweep` every OUTBOX_SWEEP_SECONDS and delivers whatever is still unsent (the guarantee).
Delivery locks the row with SKIP LOCKED, runs the handler and sets `sent_at` in one transaction, so a nudge and a
sweep racing for the same message send it once: the loser skips the locked row or finds it already sent.

The one ambiguous case is a process killed after the handler sent its e-mail but before the commit: the row stays
unsent and is sent again (at least once, never lost). Handlers take ids and re-read the database.

A handler registered with a `lease` (a long job that calls other services and commits each of its own steps, like
the Stripe sync after a billing run) runs outside any transaction instead: delivery first claims the message for
the lease (attempts + 1, next attempt at the lease's end, committed), so nudges and sweeps skip it meanwhile, then
runs the handler and marks the message sent when it returns. A worker killed midway leaves the message to be run
again once the lease has ended; a failing handler backs off as any other. Such handlers must be idempotent, and
safe to overlap should one outlast its lease.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import KombuError

from outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

Handler = Callable[..., object]
H = TypeVar("H", bound=Handler)

# After this many failed attempts the sweep stops retrying; staff see the message in the admin and can retry it.
MAX_ATTEMPTS = 12
RETRY_MAX_DELAY = timedelta(hours=1)
KEEP_SENT = timedelta(days=30)  # sent rows are pruned by the sweep after this long

_handlers: dict[str, Handler] = {}
_leases: dict[str, timedelta] = {}  # kinds whose handler runs outside the delivery transaction (see above)


class OutboxError(Exception):
    pass


def outbox_handler(kind: str, *, lease: timedelta | None = None) -> Callable[[H], H]:
    """Register the function that delivers messages of `kind`; it is called with the payload as keywords.

    Without `lease` it runs inside the transaction that marks the message sent; with one, outside any transaction
    (claimed for `lease` first; see the module docstring)."""

    def register(fn: H) -> H:
        known = _handlers.get(kind)
        if known is not None and known is not fn and known.__qualname__ != fn.__qualname__:
            raise OutboxError(f"Two outbox handlers for {kind!r}: {known.__qualname__} and {fn.__qualname__}")
        _handlers[kind] = fn
        if lease is not None:
            _leases[kind] = lease
        else:
            _leases.pop(kind, None)
        return fn

    return register


def outbox_enqueue(*, kind: str, payload: dict[str, Any], using: str = "default") -> OutboxMessage:
    """Write a message in the caller's transaction and nudge a worker once it commits (see outbox_enqueue_many)."""
    return outbox_enqueue_many(kind=kind, payloads=[payload], using=using)[0]


def outbox_enqueue_many(
    *, kind: str, payloads: Sequence[dict[str, Any]], using: str = "default"
) -> list[OutboxMessage]:
    """Write messages in the caller's transaction (one INSERT) and queue one nudge for all of them after commit.

    Raises OutboxError outside a transaction: the rows must commit (or roll back) together with the change."""
    if kind not in _handlers:
        raise OutboxError(f"No outbox handler for {kind!r}")
    if not transaction.get_connection(using).in_atomic_block:
        raise OutboxError("outbox_enqueue must run inside the transaction that makes the change")
    messages = OutboxMessage.objects.using(using).bulk_create(OutboxMessage(kind=kind, payload=p) for p in payloads)
    if messages:
        # robust: the change is committed whatever happens here; a lost nudge is the sweep's job.
        transaction.on_commit(partial(_nudge, [m.pk for m in messages]), using=using, robust=True)
    return messages


def _nudge(message_ids: list[int]) -> None:
    from outbox.tasks import deliver_outbox_task

    # Best effort and fast: a connection of its own that tries the broker once (the app's pooled connection retries
    # for about 6 s), and no publish retry. With the broker down the request that made the change is not held up;
    # the rows wait for the sweep. ~25 ms per nudge, one nudge per transaction.
    try:
        with deliver_outbox_task.app.connection_for_write(transport_options={"max_retries": 0}) as connection:
            deliver_outbox_task.apply_async((message_ids,), connection=connection, retry=False)
    except KombuError as exc:
        logger.warning("Outbox: broker unavailable (%s); messages %s wait for the sweep", exc, message_ids)


def _retry_delay(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), RETRY_MAX_DELAY)


def outbox_deliver(*, message_id: int, now: datetime | None = None) -> bool:
    """Run one message's handler and mark it sent, in one transaction. True when this call delivered it.

    False when it was sent already, is being sent by another worker right now (row locked, or a leased message
    whose lease has not ended), is unknown, or its handler failed (recorded on the row with a back-off; the sweep
    retries it)."""
    leased = None
    try:
        with transaction.atomic():
            message = (
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(pk=message_id, sent_at__isnull=True)
                .only("id", "kind", "payload", "attempts", "next_attempt_at")
                .first()
            )
            if message is None:
                return False
            handler = _handlers.get(message.kind)
            if handler is None:
                raise OutboxError(f"No outbox handler for {message.kind!r}")
            lease = _leases.get(message.kind)
            if lease is None:
                handler(**message.payload)
                OutboxMessage.objects.filter(pk=message.pk).update(
                    sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
                )
            else:
                # The sweep's clock when it is later than ours (tests sweeping "later"), else ours: a long sweep's
                # start time would shorten the lease.
                now = max(now, timezone.now()) if now else timezone.now()
                if message.next_attempt_at > now:
                    return False  # claimed by a run in progress (or backing off after a failure)
                # Committed before the handler runs: whoever comes next sees the claim and skips the message.
                OutboxMessage.objects.filter(pk=message.pk).update(
                    attempts=F("attempts") + 1, next_attempt_at=now + lease
                )
                leased = message, handler
    except Exception as exc:
        logger.exception("Outbox message %s failed; it stays unsent and is retried by the sweep", message_id)
        _record_failure(message_id=message_id, error=exc)
        return False
    if leased is None:
        return True
    return _run_leased(*leased)


def _run_leased(message: OutboxMessage, handler: Handler) -> bool:
    """A leased message's handler, outside any transaction (it commits its own steps); then mark it sent."""
    try:
        handler(**message.payload)
    except Exception as exc:
        logger.exception("Outbox message %s failed; it stays unsent and is retried by the sweep", message.pk)
        _record_failure(message_id=message.pk, error=exc, counted=True)
        return False
    OutboxMessage.objects.filter(pk=message.pk, sent_at__isnull=True).update(sent_at=timezone.now(), last_error="")
    return True


def _record_failure(*, message_id: int, error: BaseException, counted: bool = False) -> None:
    """Back off after a failed attempt. `counted`: the attempt was counted already (a leased message's claim)."""
    try:
        message = OutboxMessage.objects.filter(pk=message_id, sent_at__isnull=True).only("attempts").first()
        if message is None:
            return
        attempts = message.attempts if counted else message.attempts + 1
        OutboxMessage.objects.filter(pk=message_id, sent_at__isnull=True).update(
            attempts=attempts,
            next_attempt_at=timezone.now() + _retry_delay(attempts),
            last_error=f"{type(error).__name__}: {error}"[:2000],
        )
    except Exception:
        logger.warning("Could not record the failure of outbox message %s", message_id, exc_info=True)


def outbox_sweep(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Deliver every unsent message that is due (oldest first); return how many this run delivered.

    Safe to run while nudges are delivering and while another sweep runs (each row is locked with SKIP LOCKED)."""
    now = now or timezone.now()
    delivered, after_id = 0, 0
    while True:
        # Keyset pagination by id: a row skipped because a nudge holds it is not picked up again in this run.
        ids = list(
            OutboxMessage.objects.filter(
                sent_at__isnull=True, next_attempt_at__lte=now, attempts__lt=MAX_ATTEMPTS, id__gt=after_id
            )
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        delivered += sum(outbox_deliver(message_id=message_id, now=now) for message_id in ids)
        if len(ids) < batch_size:
            break
        after_id = ids[-1]
    OutboxMessage.objects.filter(sent_at__lt=now - KEEP_SENT).delete()
    return delivered


def outbox_retry(*, message_ids: list[int]) -> int:
    """Staff: make failed messages due again now, with a fresh attempt budget."""
    return OutboxMessage.objects.filter(pk__in=message_ids, sent_at__isnull=True).update(
        attempts=0, next_attempt_at=timezone.now(), last_error=""
    )


__all__ = [
    "MAX_ATTEMPTS",
    "OutboxError",
    "outbox_deliver",
    "outbox_enqueue",
    "outbox_enqueue_many",
    "outbox_handler",
    "outbox_retry",
    "outbox_sweep",
]
