"""Constants, errors and small helpers shared by the lead services."""

from datetime import timedelta

from django.conf import settings

MAX_SEND_ATTEMPTS = 3
RETRY_BACKOFF = timedelta(minutes=5)
AMBIGUOUS_AFTER = timedelta(minutes=10)
SEND_LEASE = timedelta(minutes=5)
DOWNLOAD_LINK_MAX_AGE = 3600  # seconds
DOWNLOAD_SALT = "leads.pdf-download"

ERR_NOT_IN_REVIEW = "This lead is not waiting for review."
ERR_NOT_ELIGIBLE = "No active subscription for PLZ {plz} at send time."
ERR_LEAD_NOT_DISTRIBUTED = "The lead is no longer distributed (status {status})."
ERR_RESEND_IN_FLIGHT = "This delivery is being sent right now; wait until it is sent or flagged as ambiguous."
ERR_RESEND_PENDING = "This delivery has not been sent yet; it will go out at its due time."
ERR_NOT_AMBIGUOUS = "Only a delivery stuck in 'sending' can be confirmed by hand."
ERR_LINK_INVALID = "This download link is invalid."
ERR_LINK_EXPIRED = "This download link has expired. Open your received leads to get a new one."
ERR_LINK_OTHER_USER = "This download link belongs to another account."
ERR_NOT_RECEIVED = "This lead was not delivered to you."
ERR_RATE_LIMITED = "Too many downloads. Try again later."
ERR_NOT_WITHDRAWABLE = (
    "Only a PLZ still awaiting payment can be withdrawn here; a paid one is cancelled in Stripe's Billing Portal."
)

ERR_NOTHING_TO_PAY = "No PLZ is waiting for payment."
ERR_CHECKOUT_RETIRED = (
    "Your PLZ requests changed while Stripe was opening the payment page. Nothing was charged; pay again."
)


class LeadError(Exception):
    """A refused lead operation; the message is safe to show."""


class DownloadRefused(LeadError):
    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def _hours() -> int:
    return settings.LEAD_EXCLUSIVE_HOURS
