"""/admin/billing/ — the billing control room. It replaces Django admin's app index for the billing app (its URL is
matched before admin.site.urls); the model changelists under /admin/billing/<model>/ are unchanged and linked here.

Figures come from backoffice.metrics; every write goes through billing.services (locked, audited) by way of the
helpers the changelist actions use too.
"""

from collections.abc import Iterator
from datetime import date

from django import forms
from django.contrib import admin, messages
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.template.response import TemplateResponse

from backoffice import metrics
from billing import selectors, services
from billing.admin import MAX_STATUS_CHANGES, TOO_MANY, StatusReasonForm, invoices_set_status
from billing.forms import GenerateDailyForm, InvoiceFilterForm
from billing.models import BillingRun, Invoice
from billing.pdf import money
from jsn.lib.control_room import invalid_filters, model_links, page_links, page_number, require_perm, selected_ids
from jsn.lib.csv import EXPORT_CHUNK_SIZE, csv_response
from jsn.lib.pagination import page_of

APP_LABEL = "billing"
PAGE_SIZE = 50
VIEW_PERMISSION = "billing.view_invoice"
CHANGE_PERMISSION = "billing.change_invoice"
GENERATE_PERMISSION = "billing.add_invoice"
STATUS_LABELS = {Invoice.Status.PAID: "Mark paid", Invoice.Status.FAILED: "Mark failed"}
NOTHING_SELECTED = "Select at least one invoice."


class MonthForm(forms.Form):
    month = forms.DateField(
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
        validators=[MinValueValidator(date(2000, 1, 1)), MaxValueValidator(date(2999, 12, 1))],
    )


class InvoiceStatusForm(StatusReasonForm):
    """The changelist's reason form plus the target status (the two moves staff make by hand here)."""

    to_status = forms.ChoiceField(choices=list(STATUS_LABELS.items()), label="Change to")


def _month(params: QueryDict, today: date) -> tuple[MonthForm, date]:
    form = MonthForm(params if params.get("month") else None)
    month = form.cleaned_data["month"] if form.is_bound and form.is_valid() and form.cleaned_data["month"] else today
    return form, month.replace(day=1)


def control_room(request: HttpRequest) -> HttpResponse:
    require_perm(request, VIEW_PERMISSION)
    status_form = generate_form = None
    if request.method == "POST":
        if request.POST.get("op") == "status":
            require_perm(request, CHANGE_PERMISSION)
            status_form = InvoiceStatusForm(request.POST)
            ids = selected_ids(request)
            if status_form.is_valid() and not ids:
                status_form.add_error(None, NOTHING_SELECTED)
            if status_form.is_valid() and len(ids) > MAX_STATUS_CHANGES:
                status_form.add_error(None, TOO_MANY)
            if status_form.is_valid():
                to_status = status_form.cleaned_data["to_status"]
                invoices_set_status(
                    request,
                    invoice_ids=ids,
                    to_status=to_status,
                    label=STATUS_LABELS[to_status],
                    reason=status_form.cleaned_data["reason"],
                )
                return HttpResponseRedirect(request.get_full_path())
        elif request.POST.get("op") == "generate":
            require_perm(request, GENERATE_PERMISSION)
            generate_form = GenerateDailyForm(request.POST)
            if generate_form.is_valid() and _generate(request, generate_form):
                return HttpResponseRedirect(request.get_full_path())
        else:
            return HttpResponse("Unknown operation.", status=400)
    return _render(request, status_form=status_form, generate_form=generate_form)


def _generate(request: HttpRequest, form: GenerateDailyForm) -> bool:
    """Bill the chosen day as the admin API does; a day not ended yet is a form error, not an empty run."""
    day = form.cleaned_data["day"]
    try:
        summary = services.billing_run_day(day=day, trigger=BillingRun.Trigger.ADMIN)
    except services.DayNotReady as exc:
        form.add_error("day", str(exc))
        return False
    except services.BillingError as exc:
        form.add_error(None, str(exc))
        return False
    totals = ", ".join(money(cents, currency) for currency, cents in sorted(summary.totals.items()))
    messages.success(
        request,
        f"Billed {day}: {summary.invoices} new invoice(s), {summary.lines} line(s)"
        + (f", {totals}" if totals else "")
        + " (days already billed are left as they were).",
    )
    if summary.failures:
        messages.error(request, f"{len(summary.failures)} user(s) could not be billed; see Billing run failures.")
    return True


def _render(
    request: HttpRequest,
    *,
    status_form: InvoiceStatusForm | None = None,
    generate_form: GenerateDailyForm | None = None,
) -> HttpResponse:
    params = request.GET
    today = services.billing_today()
    month_form, month = _month(params, today)
    first_day, last_day = metrics.month_bounds(month=month)
    filter_form = InvoiceFilterForm({k: v for k, v in params.items() if k in InvoiceFilterForm.base_fields})
    page = page_number(params)
    invoices, has_next = [], False
    if filter_form.is_valid():
        invoices, has_next = page_of(selectors.invoice_list_staff(**filter_form.filters()), page=page, size=PAGE_SIZE)
    context = {
        **admin.site.each_context(request),
        "title": "Billing",
        "subtitle": None,
        "app_label": "billing",
        "summary": metrics.billing_summary(first_day=first_day, last_day=last_day),
        "month": month,
        "month_form": month_form,
        "filter_form": filter_form,
        "invoices": invoices,
        "page": page,
        **page_links(params, page=page, has_next=has_next),
        "status_form": status_form or InvoiceStatusForm(),
        "generate_form": generate_form or GenerateDailyForm(),
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
        "can_generate": request.user.has_perm(GENERATE_PERMISSION),
        "models": model_links(request, app_label=APP_LABEL),
        "today": today,
    }
    return TemplateResponse(request, "admin/billing/control_room.html", context)


INVOICE_CSV_HEADER = [
    "invoice_id",
    "number",
    "user_id",
    "user_email",
    "invoice_date",
    "status",
    "currency",
    "subtotal_cents",
    "tax_cents",
    "total_cents",
    "due_date",
    "paid_at",
    "stripe_invoice_id",
]


def export(request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
    """The invoices matching the control room's filters, one row each, streamed."""
    require_perm(request, VIEW_PERMISSION)
    form = InvoiceFilterForm({k: v for k, v in request.GET.items() if k in InvoiceFilterForm.base_fields})
    if not form.is_valid():
        return invalid_filters(form)
    invoices = selectors.invoice_list_staff(**form.filters())

    def rows() -> Iterator[tuple]:
        for inv in invoices.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield (
                inv.pk,
                inv.number,
                inv.user_id,
                inv.user.email,
                inv.invoice_date.isoformat(),
                inv.status,
                inv.currency,
                inv.subtotal_cents,
                inv.tax_cents,
                inv.total_cents,
                inv.due_date.isoformat(),
                inv.paid_at.isoformat() if inv.paid_at else "",
                inv.stripe_invoice_id or "",
            )

    return csv_response(filename="invoices.csv", header=INVOICE_CSV_HEADER, rows=rows())
