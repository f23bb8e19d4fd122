"""Billing pages for subscribers: invoices, lines, this month's total and tomorrow's charge; PDF download; the
card (Stripe Checkout, setup mode) and the Stripe Billing Portal."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from billing import selectors, stripe_gateway
from billing.models import Invoice
from billing.pdf import invoice_pdf
from jsn.lib.pagination import page_for

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
NOT_CONNECTED = "Stripe is not connected: cards and the Billing Portal are unavailable."
STRIPE_DOWN = "Stripe did not answer. Nothing was changed; please try again in a minute."
CARD_PENDING = "Thanks — your card is saved as soon as Stripe confirms it (usually within seconds)."


@never_cache
def billing_overview(request: HttpRequest) -> HttpResponse:
    page = page_for(Paginator(selectors.invoice_list_for(user=request.user), PAGE_SIZE), request.GET.get("page"))
    pricing = selectors.active_pricing_config()
    context = {
        "page": page,
        "invoices": page.object_list,
        "month_totals": sorted(selectors.month_totals_for(user=request.user).items()),
        "today": selectors.today_charge_for(user=request.user),
        "grace_minutes": settings.CLAIM_GRACE_MINUTES,
        "preview": selectors.tomorrow_charge_for(user=request.user),
        "pricing": pricing,
        "stripe_enabled": stripe_gateway.is_enabled(),
        "has_card": stripe_gateway.is_enabled() and stripe_gateway.customer_has_payment_method(user=request.user),
        "gate": selectors.payment_gate_for(user=request.user),
        # Zero, when nothing is billed yet, in the currency prices are in (never a bare "0.00").
        "currency": pricing.currency if pricing else settings.DEFAULT_CURRENCY,
    }
    if request.GET.get("card") == "added":
        messages.info(request, CARD_PENDING)
    return render(request, "billing/overview.html", context)


def _own_invoice(request: HttpRequest, invoice_id: int) -> Invoice:
    try:
        return selectors.invoice_detail_for(user=request.user, invoice_id=invoice_id)
    except Invoice.DoesNotExist:
        raise Http404("No such invoice.") from None


@never_cache
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    return render(request, "billing/invoice_detail.html", {"invoice": _own_invoice(request, invoice_id)})


@never_cache
def invoice_pdf_download(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = _own_invoice(request, invoice_id)
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response


def _to_stripe(request: HttpRequest, create: Callable[[], stripe_gateway.SessionLink]) -> HttpResponse:
    if not stripe_gateway.is_enabled():
        messages.error(request, NOT_CONNECTED)
        return redirect("billing")
    try:
        link = create()
    except stripe_gateway.StripeGatewayError:
        logger.warning("Stripe session for user %s failed", request.user.pk, exc_info=True)
        messages.error(request, STRIPE_DOWN)
        return redirect("billing")
    return HttpResponseRedirect(link.url)


@require_POST
def card_setup(request: HttpRequest) -> HttpResponse:
    """ "Add / change card": Stripe Checkout in setup mode. The card is applied by the webhook, not on return."""
    back = request.build_absolute_uri(reverse("billing"))
    return _to_stripe(
        request,
        lambda: stripe_gateway.checkout_setup_session_create(
            user=request.user, success_url=back + "?card=added", cancel_url=back
        ),
    )


@require_POST
def billing_portal(request: HttpRequest) -> HttpResponse:
    """ "Manage billing": the Stripe Billing Portal (cards, invoices, receipts)."""
    back = request.build_absolute_uri(reverse("billing"))
    return _to_stripe(request, lambda: stripe_gateway.portal_session_create(user=request.user, return_url=back))
