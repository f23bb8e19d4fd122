import json

from django.contrib import messages
from django.contrib.auth import logout
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.export import data_export_wait, user_data_export
from accounts.forms import CloseAccountForm, TermsForm
from accounts.selectors import api_token_for
from accounts.services import (
    TokenChanged,
    account_close,
    api_token_issue,
    api_token_label,
    api_token_revoke,
    terms_accept,
    terms_are_current,
)
from billing.stripe_gateway import StripeGatewayError

ACCOUNT_CLOSE_FAILED = "Your account could not be closed because Stripe did not answer; nothing was changed."
EXPORT_RATE_LIMITED = "You have asked for your data many times this hour. Try again later."
API_TOKEN_REVOKED = "Your API token is revoked: requests with it are refused from now on."
API_TOKEN_NONE = "You have no API token."
API_TOKEN_ALREADY_CHANGED = (
    "That form was already sent (a reload?): your token was not replaced again. The key shown then is the one in use."
)
API_TOKEN_UNKNOWN_ACTION = "Choose to create, replace or revoke your API token."


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


@require_http_methods(["GET", "POST"])
def api_token_view(request: HttpRequest) -> HttpResponse:
    """'API token': whether the user has one; POST `action=issue` creates or replaces it, `action=revoke` deletes it.

    A new key is shown once, in the answer to the POST that made it (never stored in the session, never shown
    again; the page is not cached, as every logged-in page): the user copies it then or replaces the token later.
    """
    template = "account/api_token.html"
    if request.method != "POST":
        token = api_token_for(user=request.user)
        return render(request, template, {"token": token, "replaces": api_token_label(token)})
    action = request.POST.get("action")
    if action == "issue":
        try:
            token = api_token_issue(user=request.user, replaces=request.POST.get("replaces", ""))
        except TokenChanged:
            messages.info(request, API_TOKEN_ALREADY_CHANGED)
            return redirect("api_token")
        return render(request, template, {"token": token, "new_key": token.key, "replaces": api_token_label(token)})
    if action == "revoke":
        if api_token_revoke(user=request.user):
            messages.success(request, API_TOKEN_REVOKED)
        else:
            messages.info(request, API_TOKEN_NONE)
        return redirect("api_token")
    token = api_token_for(user=request.user)
    context = {"token": token, "replaces": api_token_label(token), "error": API_TOKEN_UNKNOWN_ACTION}
    return render(request, template, context, status=400)
