from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    return {
        "DEMO_MODE": settings.DEMO_MODE,
        "TERMS_VERSION": settings.TERMS_VERSION,
        # The terms quote these; the operator changes TERMS_VERSION when changing them (README, Configuration).
        "CLAIM_GRACE_MINUTES": settings.CLAIM_GRACE_MINUTES,
        "PAYMENT_GRACE_DAYS": settings.PAYMENT_GRACE_DAYS,
    }
