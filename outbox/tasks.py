"""Celery adapters for the outbox: a nudge per committed transaction and Beat's sweep (both harmless twice)."""

from celery import shared_task

from outbox import services


@shared_task
def deliver_outbox_task(message_ids: list[int]) -> int:
    """Fast path, queued after the commit that wrote the messages. A lost or duplicated nudge is harmless."""
    return sum(services.outbox_deliver(message_id=message_id) for message_id in message_ids)


@shared_task
def sweep_outbox_task() -> int:
    """Every OUTBOX_SWEEP_SECONDS: deliver what no nudge delivered (broker was down, worker was killed)."""
    return services.outbox_sweep()
