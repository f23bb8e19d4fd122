"""Agent pages: PLZ subscriptions, received and queued leads, and the signed PDF download."""

import logging
import re

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts.services import TERMS_NOT_ACCEPTED, terms_accept, terms_are_current
from billing import stripe_gateway
from leads import selectors, services
from leads.models import PlzSubscription

logger = logging.getLogger(__name__)

MAX_PLZ_PER_REQUEST = 20
ENDED_SHOWN = 20  # ended subscriptions listed on the page, the latest first
STRIPE_OFF = "Online payment is not available right now; our team activates your PLZs once payment is arranged."
STRIPE_DOWN = "Stripe did not answer. Nothing was charged; please try again in a minute."
PAID_BEFORE_WITHDRAWAL = (
    "Stripe had already taken your payment for {plz} before the withdrawal: it becomes active within a minute. "
    "To stop it, cancel it in Stripe's Billing Portal."
)
PAYMENT_PENDING = "Thanks — your PLZs become active as soon as Stripe confirms the payment (usually within seconds)."
PORTAL_OFF = (
    "Online payment is not connected here, so there is no Stripe page to manage. "
    "To cancel or change a PLZ subscription, write to our team."
)
PORTAL_DOWN = "Stripe did not answer. Nothing was changed; please try again in a minute."


@require_http_methods(["GET", "POST"])
def subscriptions(request: HttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        # Commas, semicolons, spaces or new lines between PLZs; one typed twice counts once toward the limit.
        raw = list(dict.fromkeys(p for p in re.split(r"[\s,;]+", request.POST.get("plz", "")) if p))
        if not terms_are_current(user=user):
            if request.POST.get("accept_terms") != "on":
                messages.error(request, TERMS_NOT_ACCEPTED)
                return redirect("leads_subscriptions")
            user = terms_accept(user=user)
        if not raw or len(raw) > MAX_PLZ_PER_REQUEST:
            messages.error(request, f"Enter between 1 and {MAX_PLZ_PER_REQUEST} five-digit PLZs.")
            return redirect("leads_subscriptions")
        added, held, refused = [], [], []
        for plz in raw:
            try:
                sub = services.subscription_request(user=user, plz=plz)
            except ValidationError:
                refused.append(plz[:10])
                continue
            # An open subscription is returned as it is: one already active is not "awaiting payment" again.
            (held if sub.status == PlzSubscription.Status.ACTIVE else added).append(plz)
        if added:
            messages.success(request, f"Requested: {', '.join(added)} — awaiting payment.")
        if held:
            messages.info(request, f"Already subscribed: {', '.join(held)} — nothing to pay now.")
        if refused:
            messages.error(request, f"Not a German PLZ (five digits, 01001–99999): {', '.join(refused)}")
        return redirect("leads_subscriptions")
    context = {
        # Ended ones (withdrawn, canceled, expired) apart, newest first: the main table is what gets leads or will.
        "subscriptions": selectors.subscriptions_current_for(user=user),
        "ended": selectors.subscriptions_ended_for(user=user)[: ENDED_SHOWN + 1],  # one more: "the latest 20"
        "lead_counts": selectors.lead_counts_for(user=user),
        "month_starts": selectors.month_ranges()[:2],
        "ended_shown": ENDED_SHOWN,
        "needs_terms": not terms_are_current(user=user),
        "stripe_enabled": stripe_gateway.is_enabled(),
        "awaiting_payment": selectors.plzs_awaiting_payment_for(user=user),
        "paid_through_stripe": PlzSubscription.objects.filter(user=user, stripe_subscription_id__isnull=False)
        .exclude(status=PlzSubscription.Status.CANCELED)
        .exists(),
    }
    if request.GET.get("paid") == "1":
        messages.info(request, PAYMENT_PENDING)
    return render(request, "leads/subscriptions.html", context)


@require_POST
def subscriptions_pay(request: HttpRequest) -> HttpResponse:
    """ "Pay with Stripe": Checkout in subscription mode for the PLZs awaiting payment (or the chosen ones).

    Activation comes from Stripe's webhooks, never from the return to the success URL.
    """
    if not stripe_gateway.is_enabled():
        messages.error(request, STRIPE_OFF)
        return redirect("leads_subscriptions")
    if not terms_are_current(user=request.user):
        messages.error(request, TERMS_NOT_ACCEPTED)
        return redirect("leads_subscriptions")
    plzs = selectors.plzs_awaiting_payment_for(user=request.user)
    chosen = request.POST.getlist("plz")
    if chosen:
        plzs = [plz for plz in plzs if plz in chosen]
    if not plzs:
        messages.error(request, services.ERR_NOTHING_TO_PAY)
        return redirect("leads_subscriptions")
    back = request.build_absolute_uri(reverse("leads_subscriptions"))
    try:
        # A double click or a reload gets the same Checkout session back (see plz_checkout_start).
        link = services.plz_checkout_start(user=request.user, plzs=plzs, success_url=back + "?paid=1", cancel_url=back)
    except services.LeadError as exc:  # withdrawn meanwhile (another tab): nothing, or not this, to pay
        messages.error(request, str(exc))
        return redirect("leads_subscriptions")
    except (stripe_gateway.StripeGatewayError, ValueError):
        logger.warning("Stripe PLZ checkout for user %s failed", request.user.pk, exc_info=True)
        messages.error(request, STRIPE_DOWN)
        return redirect("leads_subscriptions")
    return HttpResponseRedirect(link.url)


@require_POST
def subscription_withdraw(request: HttpRequest, subscription_id: int) -> HttpResponse:
    """Take back a PLZ request that is still awaiting payment."""
    try:
        withdrawal = services.subscription_withdraw(user=request.user, subscription_id=subscription_id)
    except services.LeadError as exc:
        messages.error(request, str(exc))
    else:
        plz = withdrawal.subscription.plz
        if withdrawal.paid_first:
            messages.info(request, PAID_BEFORE_WITHDRAWAL.format(plz=plz))
        else:
            messages.success(request, f"Withdrawn: {plz} — nothing is due for it, and it no longer awaits payment.")
    return redirect("leads_subscriptions")


@require_POST
def subscriptions_portal(request: HttpRequest) -> HttpResponse:
    """ "Manage or cancel in Stripe": the Stripe Billing Portal, where agents cancel their PLZ subscriptions.

    Cancelling there reaches us as customer.subscription.updated/deleted webhooks, like any other change.
    """
    if not stripe_gateway.is_enabled():
        messages.error(request, PORTAL_OFF)
        return redirect("leads_subscriptions")
    back = request.build_absolute_uri(reverse("leads_subscriptions"))
    try:
        link = stripe_gateway.portal_session_create(user=request.user, return_url=back)
    except stripe_gateway.StripeNotConfigured:
        logger.warning("Stripe portal for user %s: not configured", request.user.pk, exc_info=True)
        messages.error(request, PORTAL_OFF)
        return redirect("leads_subscriptions")
    except stripe_gateway.StripeGatewayError:
        logger.warning("Stripe portal for user %s failed", request.user.pk, exc_info=True)
        messages.error(request, PORTAL_DOWN)
        return redirect("leads_subscriptions")
    return HttpResponseRedirect(link.url)


def received(request: HttpRequest) -> HttpResponse:
    rows = list(selectors.deliveries_received_for(user=request.user)[:200])
    for delivery in rows:
        delivery.download_token = services.lead_download_token(delivery=delivery)
    context = {
        "received": rows,
        "queued": selectors.deliveries_queued_for(user=request.user)[:200],
        "link_minutes": services.DOWNLOAD_LINK_MAX_AGE // 60,
    }
    response = render(request, "leads/received.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _quiet(response: HttpResponse) -> HttpResponse:
    """Mark as logged so django.request does not log the path, which carries the signed token."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


# Anonymous visitors get the login page *without* ?next=: the path carries the signed token.
@login_not_required
def download(request: HttpRequest, token: str) -> HttpResponse:
    if not request.user.is_authenticated:
        return _quiet(redirect("account_login"))
    try:
        delivery = services.lead_download_resolve(token=token, user=request.user, ip=request.META.get("REMOTE_ADDR"))
    except services.DownloadRefused as exc:
        response = render(request, "leads/download_refused.html", {"reason": str(exc)}, status=exc.status)
        response["Cache-Control"] = "no-store"
        return _quiet(response)
    lead = delivery.lead
    response = FileResponse(
        lead.pdf.open("rb"), as_attachment=True, filename=f"lead-{lead.pk}.pdf", content_type="application/pdf"
    )
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
