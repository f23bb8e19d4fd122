"""GDPR data export: everything JSN holds *about* a user, and nothing about anyone else.

Cases appear by id, county and state only: their masked fields (addresses, case numbers, the owners' contacts)
are third parties' data, and access to them ends with the claim.
"""

from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from billing.models import Invoice, InvoiceLine
from cases.models import DocumentAccess
from claims.models import Claim
from jsn.lib.ratelimit import rate_limit_hit
from leads.models import Delivery, PlzSubscription

EXPORTS_PER_HOUR = 10


def data_export_wait(*, user: User) -> int | None:
    """Seconds to wait when the user asked for too many exports this hour, else None (and counts this one)."""
    return rate_limit_hit(scope="export", user_id=user.pk, limit=EXPORTS_PER_HOUR)


def user_data_export(*, user: User) -> dict[str, Any]:
    claims = Claim.objects.filter(user=user).select_related("case").order_by("claimed_at", "id")
    invoices = Invoice.objects.filter(user=user).order_by("invoice_date", "id")
    lines = InvoiceLine.objects.filter(invoice__user=user).order_by("invoice_id", "id")
    lines_by_invoice: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        lines_by_invoice.setdefault(line.invoice_id, []).append(
            {
                "id": line.pk,
                "claim_id": line.claim_id,
                "case_id": line.case_id,
                "service_date": line.service_date.isoformat(),
                "description": line.description,
                "quantity": line.quantity,
                "unit_amount_cents": line.unit_amount_cents,
                "amount_cents": line.amount_cents,
                "credit_for": line.credit_for_id,
            }
        )
    return {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "role": user.role,
            "date_joined": user.date_joined.isoformat(),
            "last_login": user.last_login.isoformat() if user.last_login else None,
            "claim_limit": user.claim_limit,
            "billing_active": user.billing_active,
            "terms_version": user.terms_version,
            "terms_accepted_at": user.terms_accepted_at.isoformat() if user.terms_accepted_at else None,
            "current_terms_version": settings.TERMS_VERSION,
        },
        "claims": [
            {
                "id": c.pk,
                "case": {"id": c.case_id, "county": c.case.county, "state": c.case.state},
                "status": c.status,
                "claimed_at": c.claimed_at.isoformat(),
                "released_at": c.released_at.isoformat() if c.released_at else None,
                "release_reason": c.release_reason,
                "expires_at": c.expires_at.isoformat() if c.expires_at else None,
                "score_at_claim": c.score_at_claim,
                "daily_price_cents": c.daily_price_cents,
                "currency": c.currency,
            }
            for c in claims
        ],
        "invoices": [
            {
                "id": i.pk,
                "number": i.number,
                "invoice_date": i.invoice_date.isoformat(),
                "status": i.status,
                "currency": i.currency,
                "subtotal_cents": i.subtotal_cents,
                "tax_cents": i.tax_cents,
                "total_cents": i.total_cents,
                "due_date": i.due_date.isoformat() if i.due_date else None,
                "paid_at": i.paid_at.isoformat() if i.paid_at else None,
                "lines": lines_by_invoice.get(i.pk, []),
            }
            for i in invoices
        ],
        "document_accesses": [
            {
                "document_id": a.document_id,
                "case_id": a.case_id,
                "action": a.action,
                "result": a.result,
                "reason": a.reason,
                "ip": a.ip,
                "at": a.created_at.isoformat(),
            }
            for a in DocumentAccess.objects.filter(user=user).order_by("created_at", "id")
        ],
        "plz_subscriptions": [
            {
                "plz": s.plz,
                "status": s.status,
                "source": s.source,
                "current_period_end": s.current_period_end.isoformat() if s.current_period_end else None,
                "created_at": s.created_at.isoformat(),
            }
            for s in PlzSubscription.objects.filter(user=user).order_by("created_at", "id")
        ],
        "lead_deliveries": [
            {
                "lead_id": d.lead_id,
                "position": d.position,
                "status": d.status,
                "due_at": d.due_at.isoformat(),
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d in Delivery.objects.filter(subscriber=user).order_by("due_at", "id")
        ],
    }
