"""Signed, expiring, per-user download links for received leads; every attempt is logged."""

import logging

from django.conf import settings
from django.core import signing

from accounts.models import User
from jsn.lib.ratelimit import rate_limit_hit
from leads.models import (
    Delivery,
    LeadEvent,
)
from leads.selectors import RECEIVED
from leads.services.common import (
    DOWNLOAD_LINK_MAX_AGE,
    DOWNLOAD_SALT,
    ERR_LINK_EXPIRED,
    ERR_LINK_INVALID,
    ERR_LINK_OTHER_USER,
    ERR_NOT_RECEIVED,
    ERR_RATE_LIMITED,
    DownloadRefused,
)

logger = logging.getLogger(__name__)


def lead_download_token(*, delivery: Delivery) -> str:
    """A signed, expiring token naming the delivery and its recipient. Ownership is re-checked at use."""
    return signing.dumps({"d": delivery.pk, "u": delivery.subscriber_id}, salt=DOWNLOAD_SALT, compress=False)


def _download_rate_limited(*, user: User) -> bool:
    """Count one attempt in the user's hourly window (shared cache, so it holds across processes)."""
    limit = int(getattr(settings, "DOCUMENT_RATE_LIMIT_PER_HOUR", 60))
    return rate_limit_hit(scope="leads:download", user_id=user.pk, limit=limit) is not None


def lead_download_resolve(*, token: str, user: User, ip: str | None = None) -> Delivery:
    """The delivery a download link grants to `user`, or DownloadRefused. Every attempt is logged."""
    delivery_id = None
    try:
        if _download_rate_limited(user=user):
            raise DownloadRefused(ERR_RATE_LIMITED, status=429)
        try:
            data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_LINK_MAX_AGE)
        except signing.SignatureExpired:
            raise DownloadRefused(ERR_LINK_EXPIRED, status=410) from None  # as the case documents' links answer
        except signing.BadSignature:
            raise DownloadRefused(ERR_LINK_INVALID, status=404) from None
        if not isinstance(data, dict):
            raise DownloadRefused(ERR_LINK_INVALID, status=404)
        delivery_id = data.get("d")
        if data.get("u") != user.pk:
            raise DownloadRefused(ERR_LINK_OTHER_USER)
        delivery = (
            Delivery.objects.select_related("lead").filter(pk=delivery_id, subscriber=user, status__in=RECEIVED).first()
        )
        if delivery is None:
            raise DownloadRefused(ERR_NOT_RECEIVED)
    except DownloadRefused as exc:
        LeadEvent.objects.create(
            action=LeadEvent.Action.DOWNLOAD_REFUSED,
            actor=user,
            delivery_id=delivery_id if Delivery.objects.filter(pk=delivery_id).exists() else None,
            detail={"ip": ip, "reason": str(exc)},
        )
        raise
    LeadEvent.objects.create(
        action=LeadEvent.Action.DOWNLOADED, actor=user, lead=delivery.lead, delivery=delivery, detail={"ip": ip}
    )
    return delivery
