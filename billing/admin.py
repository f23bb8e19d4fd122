import time
from collections.abc import Iterable, Iterator

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse

from billing import services, stripe_gateway
from billing.models import (
    BillingRun,
    BillingRunFailure,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    PricingConfig,
    StripeDrift,
)
from billing.pdf import money
from jsn.lib.csv import EXPORT_CHUNK_SIZE, csv_response


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = [
        "service_date",
        "case",
        "case_number",
        "description",
        "score",
        "quantity",
        "unit_amount_cents",
        "amount_cents",
        "credit_for",
        "claim",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False


class InvoiceEventInline(admin.TabularInline):
    model = InvoiceEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "actor", "from_status", "to_status", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False


class StatusReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded in the audit."
    )


# Invoices one status change may touch: a page of the changelist or the control room. Each may be a Stripe call
# inside the web request; "select all" across 10,000 invoices would outlive the web worker part-way, and the
# operator would not know which were done.
MAX_STATUS_CHANGES = 50
TOO_MANY = f"Select at most {MAX_STATUS_CHANGES} invoices for one status change (one page); nothing was changed."


def _batch_seconds() -> float:
    """How long a batch may keep starting invoices: the web worker's timeout less one Stripe call that gets no
    answer (settings.STRIPE_CALL_MAX_SECONDS) and a margin."""
    return max(0.0, settings.WEB_TIMEOUT_SECONDS - settings.STRIPE_CALL_MAX_SECONDS - 5)


def invoices_set_status(
    request: HttpRequest, *, invoice_ids: Iterable[int], to_status: str, label: str, reason: str
) -> None:
    """Move each invoice through services.invoice_set_status (locked, audited with the actor and the reason) and
    tell the operator what was done, what was refused and what was not attempted. Shared by the changelist actions
    and the control room.

    The batch stops starting invoices — the rest untouched and named — once another one could outlive the web
    worker's timeout: after one Stripe call that got no answer (STRIPE_CALL_MAX_SECONDS), none more is started. A
    quick refusal (an error Stripe answered at once) does not stop it."""
    invoice_ids = list(invoice_ids)
    started = time.monotonic()
    done, refused, skipped = 0, [], []
    for n, invoice_id in enumerate(invoice_ids):
        if n and time.monotonic() - started > _batch_seconds():
            skipped = invoice_ids[n:]
            break
        try:
            services.invoice_set_status(invoice_id=invoice_id, to_status=to_status, actor=request.user, reason=reason)
            done += 1
        except Invoice.DoesNotExist:
            refused.append((invoice_id, "no such invoice"))
        except services.BillingError as exc:
            refused.append((invoice_id, str(exc)))
    if done:
        messages.success(request, f"{label}: {done} invoice(s).")
    if refused:  # named by invoice number, as the list shows them (the id where there is no such invoice)
        numbers = dict(Invoice.objects.filter(pk__in=[pk for pk, _ in refused]).values_list("pk", "number"))
        named = [f"{numbers.get(pk, f'#{pk}')}: {why}" for pk, why in refused[:20]]
        messages.error(request, "Refused — " + "; ".join(named))
    if skipped:
        numbers = dict(Invoice.objects.filter(pk__in=skipped).values_list("pk", "number"))
        names = ", ".join(numbers.get(pk, f"#{pk}") for pk in skipped[:20]) + (" …" if len(skipped) > 20 else "")
        messages.warning(
            request,
            f"Stopped (the time for one request ran out): {len(skipped)} invoice(s) not attempted, unchanged — "
            f"{names}. Select them again.",
        )


def _status_action(to_status: str, label: str):
    def action(modeladmin: "InvoiceAdmin", request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        # Before the confirmation page would list them all; at most MAX + 1 ids read, not a count of the selection.
        if len(queryset.values_list("pk", flat=True)[: MAX_STATUS_CHANGES + 1]) > MAX_STATUS_CHANGES:
            messages.error(request, TOO_MANY)
            return None
        form = StatusReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            invoices_set_status(
                request,
                invoice_ids=queryset.values_list("pk", flat=True),
                to_status=to_status,
                label=label,
                reason=form.cleaned_data["reason"],
            )
            return None
        return TemplateResponse(
            request,
            "admin/billing/invoice_status_action.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": f"{label}: give a reason",
                "label": label,
                "form": form,
                "invoices": queryset,
                "action": request.POST.get("action"),
                "opts": modeladmin.model._meta,
            },
        )

    action.__name__ = f"mark_{to_status}"
    return admin.action(description=f"{label} (with a reason)…", permissions=["change"])(action)


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "user", "invoice_date", "total", "status", "due_date", "paid_at", "stripe_invoice_id"]
    list_filter = ["status", "invoice_date", "currency"]
    # No date_hierarchy: it reads every row of the table (SELECT DISTINCT date_trunc) on each page load, which grows
    # with the audit trail; the date filter in the sidebar costs no query (bench/admin.py).
    show_full_result_count = False
    search_fields = ["number", "user__email"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    list_select_related = ["user"]
    inlines = [InvoiceLineInline, InvoiceEventInline]
    actions = [
        _status_action(Invoice.Status.PAID, "Mark paid"),
        _status_action(Invoice.Status.FAILED, "Mark failed"),
        _status_action(Invoice.Status.VOID, "Void"),
        "retry_stripe_sync",
        "export_csv",
    ]
    readonly_fields = [f.name for f in Invoice._meta.fields]

    @admin.display(description="Total", ordering="total_cents")
    def total(self, invoice: Invoice) -> str:
        return money(invoice.total_cents, invoice.currency)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # invoices come from the daily job only

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False  # history: void instead

    @admin.action(description="Retry Stripe sync", permissions=["change"])
    def retry_stripe_sync(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        """Send the selected invoices to Stripe again (clearing a recorded sync error); each outcome is reported."""
        if not stripe_gateway.is_enabled():
            self.message_user(request, "Stripe is not connected: nothing was sent.", messages.ERROR)
            return
        outcomes: dict[str, list[str]] = {}
        for invoice_id, number in queryset.order_by("pk").values_list("pk", "number")[: self.MAX_RETRY]:
            outcome = services.invoice_stripe_sync(invoice_id=invoice_id, force=True)
            outcomes.setdefault(outcome, []).append(number)
        for outcome, numbers in sorted(outcomes.items()):
            level = messages.ERROR if outcome in self.BAD_OUTCOMES else messages.SUCCESS
            self.message_user(request, f"Stripe sync {outcome}: {', '.join(numbers[:20])}", level)

    MAX_RETRY = 100  # each invoice is several Stripe calls inside this request
    BAD_OUTCOMES = {
        services.SyncOutcome.UNAVAILABLE,
        services.SyncOutcome.REJECTED,
        services.SyncOutcome.TOO_MANY_LINES,
        services.SyncOutcome.FAILED,
    }

    @admin.action(description="Export lines as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> StreamingHttpResponse:
        lines = (
            InvoiceLine.objects.filter(invoice__in=queryset)
            .select_related("invoice__user")
            .order_by("invoice__invoice_date", "invoice_id", "id")
        )

        def rows() -> Iterator[tuple]:
            for line in lines.iterator(chunk_size=EXPORT_CHUNK_SIZE):
                inv = line.invoice
                yield (
                    inv.number,
                    inv.user.email,
                    inv.invoice_date.isoformat(),
                    inv.status,
                    inv.currency,
                    inv.total_cents,
                    line.service_date.isoformat(),
                    line.case_number,
                    line.description,
                    line.quantity,
                    line.unit_amount_cents,
                    line.amount_cents,
                    line.score,
                )

        return csv_response(filename="invoice-lines.csv", header=INVOICE_LINE_CSV_HEADER, rows=rows())


INVOICE_LINE_CSV_HEADER = [
    "invoice_number",
    "user_email",
    "invoice_date",
    "status",
    "currency",
    "invoice_total_cents",
    "service_date",
    "case_number",
    "description",
    "quantity",
    "unit_amount_cents",
    "amount_cents",
    "score",
]


class PricingConfigForm(forms.ModelForm):
    class Meta:
        model = PricingConfig
        fields = [
            "model",
            "currency",
            "flat_price_cents",
            "bands",
            "cents_per_point",
            "floor_cents",
            "ceiling_cents",
            "note",
        ]

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].lower()
        try:
            services.pricing_currency_switch_check(currency=currency)
        except services.BillingError as exc:
            raise forms.ValidationError(str(exc), code="currency_switch") from exc
        return currency


@admin.register(PricingConfig)
class PricingConfigAdmin(admin.ModelAdmin):
    """Saving publishes a new version and makes it active; versions are never edited (claims keep theirs)."""

    form = PricingConfigForm
    list_display = ["version", "is_active", "model", "currency", "created_by", "created_at", "note"]
    list_select_related = ["created_by"]
    list_filter = ["is_active", "model"]

    def has_change_permission(self, request: HttpRequest, obj: PricingConfig | None = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PricingConfig | None = None) -> bool:
        return False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        active = PricingConfig.objects.filter(is_active=True).first()
        if active is None:
            from billing.pricing import DEFAULT_BANDS, bands_to_data

            return {"model": "banded", "currency": "usd", "bands": bands_to_data(DEFAULT_BANDS)}
        return {name: getattr(active, name) for name in PricingConfigForm.Meta.fields if name != "note"}

    def save_model(self, request: HttpRequest, obj: PricingConfig, form: forms.Form, change: bool) -> None:
        published = services.pricing_config_publish(
            actor=request.user, **{name: form.cleaned_data[name] for name in PricingConfigForm.Meta.fields}
        )
        obj.pk, obj.version, obj.is_active = published.pk, published.version, True
        obj._state.adding = False


@admin.register(BillingRun)
class BillingRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "trigger",
        "first_day",
        "last_day",
        "started_at",
        "finished_at",
        "invoices",
        "lines",
        "failures",
    ]
    list_filter = ["trigger"]
    readonly_fields = [f.name for f in BillingRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(BillingRunFailure)
class BillingRunFailureAdmin(admin.ModelAdmin):
    list_display = ["created_at", "run", "user"]
    list_select_related = ["run", "user"]  # both columns render a related object
    readonly_fields = [f.name for f in BillingRunFailure._meta.fields]
    search_fields = ["user__email"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(StripeDrift)
class StripeDriftAdmin(admin.ModelAdmin):
    """What the daily reconciliation found different at Stripe; resolved rows stay as history."""

    list_display = ["found_at", "invoice", "kind", "local_value", "stripe_value", "stripe_invoice_id", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["invoice__number", "stripe_invoice_id"]
    list_select_related = ["invoice"]
    readonly_fields = [f.name for f in StripeDrift._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
