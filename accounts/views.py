import json

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.export import data_export_wait, user_data_export
from accounts.forms import TermsForm
from accounts.services import terms_accept, terms_are_current

EXPORT_RATE_LIMITED = "You have asked for your data many times this hour. Try again later."


def terms(request: HttpRequest) -> HttpResponse:
    """Shows the current terms and records their acceptance (version and time)."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = TermsForm(request.POST or None)
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
