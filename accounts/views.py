import json

from django.contrib import messages
from django.contrib.auth import logout
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.export import data_export_wait, user_data_export
from accounts.forms import CloseAccountForm, TermsForm
from accounts.services import account_close, terms_accept, terms_are_current
from billing.stripe_gateway import StripeGatewayError

ACCOUNT_CLOSE_FAILED = "Your account could not be closed because Stripe did not answer; nothing was changed."
EXPORT_RATE_LIMITED = "You have asked for your data many times this hour. Try again later."


def terms(request: HttpRequest) -> HttpResponse:
    """Shows the current terms and records their acceptance (version and time)."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = TermsForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        terms_accept(user=request.user)
        messages.success(request, "Thank you — you accepted the terms of service.")
        return redirect(next_url or "dashboard")
    context = {"form": form, "next": next_url, "current": terms_are_current(user=request.user)}
    return render(request, "accounts/terms.html", context, status=400 if form.errors else 200)


def data_export(request: HttpRequest) -> HttpResponse:
    """'Export my data': GET shows the page, POST downloads the JSON file."""
    if request.method != "POST":
        return render(request, "accounts/export.html")
    if data_export_wait(user=request.user) is not None:
        messages.error(request, EXPORT_RATE_LIMITED)
        return redirect("data_export")
    body = json.dumps(user_data_export(user=request.user), indent=2, cls=DjangoJSONEncoder)
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="jsn-data-{timezone.localdate():%Y-%m-%d}.json"'
    return response


def account_close_view(request: HttpRequest) -> HttpResponse:
    """'Close my account': confirmed with the password and the word CLOSE."""
    form = CloseAccountForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account_close(user=request.user)
        except StripeGatewayError as exc:
            messages.error(request, f"{ACCOUNT_CLOSE_FAILED} ({exc})")
            return redirect("account_close")
        logout(request)
        messages.success(request, "Your account is closed. Invoices are kept as the law requires.")
        return redirect("landing")
    return render(request, "accounts/close.html", {"form": form}, status=400 if form.errors else 200)
