from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.forms import TermsForm
from accounts.services import terms_accept, terms_are_current


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
