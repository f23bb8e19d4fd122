"""Billing's errors, in one module so that the ledger (services), staff status changes and the Stripe side raise the
same ones without importing each other. Re-exported from billing.services."""

from billing.models import Invoice

ERR_BUSY = "Invoice #{invoice_id} is being changed by someone else right now (or being sent to Stripe); try again."


class BillingError(Exception):
    code = "billing_error"


class DayNotReady(BillingError):
    code = "day_not_ended"


class InvoiceTransitionRefused(BillingError):
    """The invoice's status cannot move there (final, or backwards). `status` is the invoice's current one."""

    def __init__(self, message: str, *, status: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or ("already_paid" if status == Invoice.Status.PAID else "invalid_transition")


class InvoiceBusy(BillingError):
    """The invoice row stayed locked beyond lock_timeout. Nothing was changed; retrying is safe."""

    code = "busy"

    def __init__(self, *, invoice_id: int) -> None:
        super().__init__(ERR_BUSY.format(invoice_id=invoice_id))


class StripeActionError(BillingError):
    """A staff change that Stripe has to make first did not happen there, so nothing changed here either.

    `code`: `stripe_unavailable` (no answer: retrying is safe), `stripe_refused` (Stripe said no) or
    `stripe_not_connected` (the invoice is at Stripe but this installation has no key)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
