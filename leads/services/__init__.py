"""Lead writes: import, distribution, sending, review, re-send, subscriptions, download links.

Invariants (RELIABILITY.md L1–L3):
- one lead per Dialfire id and per content hash — unique constraints decide, IntegrityError means "already there";
- one delivery per (lead, subscriber), ever — a unique constraint;
- a delivery is marked `sending` in its own committed transaction before the e-mail leaves; one found still
  `sending` later may or may not have gone out, so it is never re-sent automatically but shown to staff.

Modules: imports, distribution, sending, tracking (the provider's delivery events), review, subscriptions (with
Stripe Checkout), downloads; shared constants in common.
"""

from leads.services.common import (
    AMBIGUOUS_AFTER,
    DOWNLOAD_LINK_MAX_AGE,
    DOWNLOAD_SALT,
    ERR_CHECKOUT_RETIRED,
    ERR_LEAD_NOT_DISTRIBUTED,
    ERR_LINK_EXPIRED,
    ERR_LINK_INVALID,
    ERR_LINK_OTHER_USER,
    ERR_NOT_AMBIGUOUS,
    ERR_NOT_ELIGIBLE,
    ERR_NOT_IN_REVIEW,
    ERR_NOT_RECEIVED,
    ERR_NOT_WITHDRAWABLE,
    ERR_NOTHING_TO_PAY,
    ERR_RATE_LIMITED,
    ERR_RESEND_IN_FLIGHT,
    ERR_RESEND_PENDING,
    MAX_SEND_ATTEMPTS,
    RETRY_BACKOFF,
    SEND_LEASE,
    DownloadRefused,
    LeadError,
)
from leads.services.distribution import (
    lead_distribute,
    leads_distribute_ready,
)
from leads.services.downloads import (
    lead_download_resolve,
    lead_download_token,
)
from leads.services.imports import (
    ImportResult,
    PdfIn,
    lead_import_pdf,
    leads_import_many,
)
from leads.services.review import (
    lead_review_resolve,
)
from leads.services.sending import (
    DUE_STATUSES,
    SendReport,
    deliveries_ambiguous_count,
    deliveries_send_due,
    delivery_confirm_sent,
    delivery_resend,
)
from leads.services.subscriptions import (
    CHECKOUT_REUSE,
    Withdrawal,
    plz_checkout_completed,
    plz_checkout_expired,
    plz_checkout_start,
    plz_subscription_sync_from_stripe,
    plz_subscriptions_recheck_stripe,
    subscription_end,
    subscription_grant,
    subscription_request,
    subscription_withdraw,
    subscriptions_expire,
)
from leads.services.tracking import (
    delivery_tracking_apply,
)

__all__ = [
    "AMBIGUOUS_AFTER",
    "CHECKOUT_REUSE",
    "DOWNLOAD_LINK_MAX_AGE",
    "DOWNLOAD_SALT",
    "DUE_STATUSES",
    "ERR_CHECKOUT_RETIRED",
    "ERR_LEAD_NOT_DISTRIBUTED",
    "ERR_LINK_EXPIRED",
    "ERR_LINK_INVALID",
    "ERR_LINK_OTHER_USER",
    "ERR_NOTHING_TO_PAY",
    "ERR_NOT_AMBIGUOUS",
    "ERR_NOT_ELIGIBLE",
    "ERR_NOT_IN_REVIEW",
    "ERR_NOT_RECEIVED",
    "ERR_NOT_WITHDRAWABLE",
    "ERR_RATE_LIMITED",
    "ERR_RESEND_IN_FLIGHT",
    "ERR_RESEND_PENDING",
    "MAX_SEND_ATTEMPTS",
    "RETRY_BACKOFF",
    "SEND_LEASE",
    "DownloadRefused",
    "ImportResult",
    "LeadError",
    "PdfIn",
    "SendReport",
    "Withdrawal",
    "deliveries_ambiguous_count",
    "deliveries_send_due",
    "delivery_confirm_sent",
    "delivery_resend",
    "delivery_tracking_apply",
    "lead_distribute",
    "lead_download_resolve",
    "lead_download_token",
    "lead_import_pdf",
    "lead_review_resolve",
    "leads_distribute_ready",
    "leads_import_many",
    "plz_checkout_completed",
    "plz_checkout_expired",
    "plz_checkout_start",
    "plz_subscription_sync_from_stripe",
    "plz_subscriptions_recheck_stripe",
    "subscription_end",
    "subscription_grant",
    "subscription_request",
    "subscription_withdraw",
    "subscriptions_expire",
]
