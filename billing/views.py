"""Billing pages for subscribers: invoices, lines, this month's total and tomorrow's charge; PDF download."""

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from billing import selectors
from billing.models import Invoice
from billing.pdf import invoice_pdf

PAGE_SIZE = 25


@never_cache
def billing_overview(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.invoice_list_for(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "invoices": page.object_list,
        "month_totals": sorted(selectors.month_totals_for(user=request.user).items()),
        "preview": selectors.tomorrow_charge_for(user=request.user),
        "pricing": selectors.active_pricing_config(),
    }
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
