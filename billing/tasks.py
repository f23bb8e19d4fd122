from celery import shared_task

from billing.models import BillingRun
from billing.services import billing_run


@shared_task
def bill_daily_task() -> dict:
    """Beat fires this at 00:15 BILLING_TIME_ZONE. It bills every unbilled (user, day) before today, so a missed
    or doubled trigger is harmless; a redelivered task finds nothing left to bill."""
    summary = billing_run(trigger=BillingRun.Trigger.BEAT)
    return {
        "run_id": summary.run_id,
        "first_day": summary.first_day.isoformat(),
        "last_day": summary.last_day.isoformat(),
        "invoices": summary.invoices,
        "lines": summary.lines,
        "failures": len(summary.failures),
    }
