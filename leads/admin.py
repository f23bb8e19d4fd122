"""Back office for leads: status filters, the review queue, deliveries, re-sends, subscriptions, Dialfire health."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from backoffice import metrics
from leads import selectors, services
from leads.models import PLZ_VALIDATOR, Delivery, ImportSource, Lead, LeadEvent, PlzCheckout, PlzSubscription

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = ["subscriber", "position", "status", "due_at", "sent_at", "tracked_at", "attempts", "last_error"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class LeadAdminForm(forms.ModelForm):
    # No max_length: the browser would cut a sixth digit off silently; the validator names what is wrong instead.
    resolve_plz = forms.CharField(
        label="PLZ to use",
        required=False,
        help_text="Review: type the lead's PLZ (one of the candidates or another) and save to release it.",
    )

    class Meta:
        model = Lead
        fields: list[str] = []

    def clean_resolve_plz(self) -> str:
        plz = (self.cleaned_data.get("resolve_plz") or "").strip()
        if plz:
            PLZ_VALIDATOR(plz)
        return plz

    def clean(self) -> dict:
        data = super().clean()
        if data.get("resolve_plz") and self.instance.status != Lead.Status.REVIEW:
            # A page opened before someone else resolved it: the field is gone from the fresh page, so the error is
            # the form's, shown at the top.
            raise ValidationError(services.ERR_NOT_IN_REVIEW, code="not_in_review")
        return data


class UploadForm(forms.Form):
    pdf = forms.FileField(label="Lead PDF")


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = ["id", "received_at", "plz", "status", "candidate_plzs", "recipients", "dialfire_id", "filename"]
    list_filter = ["status", "received_at"]
    search_fields = ["=plz", "=dialfire_id", "=sha256", "filename"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    readonly_fields = [
        "status",
        "plz",
        "pdf_link",
        "candidates_table",
        "quarantine_reason",
        "text_snippet",
        "received_at",
        "distributed_at",
        "reviewed_by",
        "reviewed_at",
        "dialfire_id",
        "filename",
        "size_bytes",
        "sha256",
    ]
    inlines = [DeliveryInline]
    change_list_template = "admin/leads/lead/change_list.html"
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Lead]:
        # A subquery, not annotate(Count()): PostgreSQL runs it for the page's rows only, and the paginator's count
        # stays a plain count instead of grouping every delivery of every lead.
        recipients = (
            Delivery.objects.filter(lead=OuterRef("pk")).order_by().values("lead").annotate(n=Count("pk")).values("n")
        )
        return super().get_queryset(request).annotate(recipient_count=Coalesce(Subquery(recipients), 0))

    def get_fields(self, request: HttpRequest, obj: Lead | None = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None and obj.status == Lead.Status.REVIEW:
            fields.insert(0, "resolve_plz")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # leads come from Dialfire, the folder command or the upload view

    @admin.display(description="Candidates")
    def candidate_plzs(self, obj: Lead) -> str:
        return ", ".join(sorted({c["plz"] for c in obj.candidates})) or "—"

    @admin.display(description="Recipients", ordering="recipient_count")
    def recipients(self, obj: Lead) -> int:
        return obj.recipient_count

    @admin.display(description="PDF")
    def pdf_link(self, obj: Lead) -> str:
        if not obj.pdf:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">Open the PDF</a> ({} KB)',
            reverse("admin:leads_lead_pdf", args=[obj.pk]),
            max(1, round((obj.size_bytes or 0) / 1024)),
        )

    @admin.display(description="PLZ candidates (what matched, where)")
    def candidates_table(self, obj: Lead) -> str:
        if not obj.candidates:
            return "No PLZ found in the text." if obj.status != Lead.Status.QUARANTINED else "—"
        agents = selectors.agents_by_plz(plzs=[c["plz"] for c in obj.candidates])
        rows = format_html_join(
            "",
            "<tr><td><strong>{}</strong></td><td>{}</td><td>{}</td><td>page {}, char {}</td><td>…{}…</td>"
            "<td>{}</td></tr>",
            (
                (c["plz"], c["matched"], c["kind"], c["page"], c["offset"], c["context"], agents.get(c["plz"], 0))
                for c in obj.candidates
            ),
        )
        return format_html(
            "<table><tr><th>PLZ</th><th>Matched</th><th>Kind</th><th>Where</th><th>Context</th>"
            "<th>Agents subscribed</th></tr>{}</table>",
            rows,
        )

    def save_model(self, request: HttpRequest, obj: Lead, form: forms.Form, change: bool) -> None:
        plz = form.cleaned_data.get("resolve_plz") or ""
        if not plz:
            return
        try:
            lead = services.lead_review_resolve(actor=request.user, lead=obj, plz=plz)
        except (ValidationError, services.LeadError) as exc:
            # Another staff member resolved it between the form's check and this save.
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
            request._lead_review_refused = True  # type: ignore[attr-defined]
            return
        recipients = lead.deliveries.count()
        if recipients:
            messages.success(
                request, f"Lead #{lead.pk} released for PLZ {lead.plz} to {recipients} agent{pluralize(recipients)}."
            )
        else:
            messages.warning(
                request,
                f"Lead #{lead.pk} is recorded for PLZ {lead.plz}, but no agent subscribes to PLZ {lead.plz}: "
                "nobody receives it. An agent who subscribes later does not get it either.",
            )

    def response_change(self, request: HttpRequest, obj: Lead) -> HttpResponse:
        if getattr(request, "_lead_review_refused", False):
            # Not "changed successfully" under the error: nothing was changed.
            return redirect(reverse("admin:leads_lead_change", args=[obj.pk]))
        return super().response_change(request, obj)

    def get_urls(self) -> list:
        return [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="leads_lead_upload"),
            path("<int:lead_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="leads_lead_pdf"),
            *super().get_urls(),
        ]

    def pdf_view(self, request: HttpRequest, lead_id: int) -> HttpResponse:
        """The lead's PDF, shown in the browser, for staff reading a lead in review (logged like agents' downloads)."""
        lead = Lead.objects.filter(pk=lead_id).first()
        if lead is None or not self.has_view_permission(request, lead):
            raise Http404("No such lead.")
        try:
            handle = lead.pdf.open("rb")
        except (FileNotFoundError, ValueError):
            raise Http404("The PDF of this lead is no longer stored.") from None
        LeadEvent.objects.create(
            action=LeadEvent.Action.DOWNLOADED, actor=request.user, lead=lead, detail={"staff": True}
        )
        response = FileResponse(handle, filename=f"lead-{lead.pk}.pdf", content_type="application/pdf")
        response["Cache-Control"] = "no-store"
        return response

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request) or not request.user.has_perm("leads.change_lead"):
            return redirect("admin:index")
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["pdf"]
            if upload.size > MAX_UPLOAD_BYTES:
                messages.error(request, "The file is larger than 20 MB.")
            else:
                result = services.lead_import_pdf(content=upload.read(), filename=upload.name, actor=request.user)
                lead = result.lead
                verb = "Imported" if result.created else "Already known:"
                messages.success(request, f"{verb} lead #{lead.pk} ({lead.get_status_display()}).")
                return redirect(reverse("admin:leads_lead_change", args=[lead.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "title": "Upload a lead PDF",
            "opts": self.opts,
        }
        return render(request, "admin/leads/lead/upload.html", context)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "dialfire": metrics.dialfire_health(),
            "review_count": Lead.objects.filter(status=Lead.Status.REVIEW).count(),
            "ambiguous_count": selectors.deliveries_ambiguous().count(),
            "duplicate_count": selectors.subscription_duplicates_recent().count(),
        }
        return super().changelist_view(request, extra_context=extra_context)


class AmbiguousFilter(admin.SimpleListFilter):
    title = "ambiguous send"
    parameter_name = "ambiguous"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Stuck in sending — check the provider")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> QuerySet[Delivery]:
        if self.value() == "yes":
            return queryset.filter(pk__in=selectors.deliveries_ambiguous().values("pk"))
        return queryset


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "lead", "subscriber", "position", "status", "due_at", "sent_at", "attempts", "last_error"]
    list_filter = [AmbiguousFilter, "status", "position"]
    search_fields = ["=lead__id", "subscriber__email", "=message_id", "=provider_message_id"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    list_select_related = ["lead", "subscriber"]
    readonly_fields = [f.name for f in Delivery._meta.fields]
    actions = ["resend", "confirm_sent"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Re-send to this subscriber (audited; payment re-checked)", permissions=["change"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = 0
        for delivery in queryset:
            try:
                services.delivery_resend(actor=request.user, delivery=delivery)
                done += 1
            except services.LeadError as exc:
                messages.warning(request, f"Delivery #{delivery.pk}: {exc}")
        if done:
            messages.success(request, f"{done} deliveries queued to be sent again.")

    @admin.action(description="Confirm ambiguous send went out (audited)", permissions=["change"])
    def confirm_sent(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        for delivery in queryset:
            try:
                services.delivery_confirm_sent(actor=request.user, delivery=delivery)
            except services.LeadError as exc:
                messages.warning(request, f"Delivery #{delivery.pk}: {exc}")


class PlzSubscriptionForm(forms.ModelForm):
    class Meta:
        model = PlzSubscription
        fields = ["user", "plz", "current_period_end"]


@admin.register(PlzSubscription)
class PlzSubscriptionAdmin(admin.ModelAdmin):
    form = PlzSubscriptionForm
    list_display = [
        "id",
        "plz",
        "user",
        "status",
        "source",
        "current_period_end",
        "stripe_subscription_id",
        "created_at",
    ]
    list_filter = ["status", "source"]
    search_fields = ["=plz", "user__email", "=stripe_subscription_id"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    actions = ["grant", "end"]

    def get_readonly_fields(self, request: HttpRequest, obj: PlzSubscription | None = None) -> list[str]:
        base = ["status", "source", "stripe_subscription_id", "created_at", "updated_at"]
        return [*base, "user", "plz"] if obj is not None else base

    def save_model(self, request: HttpRequest, obj: PlzSubscription, form: forms.Form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # only the period end is editable
            return
        # Adding by hand is a staff grant: active, manual, audited (and merged into a pending request).
        sub = services.subscription_grant(
            actor=request.user, user=obj.user, plz=obj.plz, period_end=obj.current_period_end
        )
        obj.pk = sub.pk
        obj.status, obj.source = sub.status, sub.source

    @admin.action(description="Grant by hand (active, manual)", permissions=["change"])
    def grant(self, request: HttpRequest, queryset: QuerySet[PlzSubscription]) -> None:
        for sub in queryset.exclude(status=PlzSubscription.Status.CANCELED).select_related("user"):
            services.subscription_grant(
                actor=request.user, user=sub.user, plz=sub.plz, period_end=sub.current_period_end
            )
        messages.success(request, "Granted. Canceled subscriptions are history: add a new one instead.")

    @admin.action(description="End now", permissions=["change"])
    def end(self, request: HttpRequest, queryset: QuerySet[PlzSubscription]) -> None:
        for sub in queryset:
            services.subscription_end(actor=request.user, subscription=sub)
        messages.success(request, "Ended. Planned deliveries to these subscriptions will be skipped.")


@admin.register(PlzCheckout)
class PlzCheckoutAdmin(admin.ModelAdmin):
    """Stripe Checkouts started from the PLZ page (read-only): one per (agent, PLZ set) while it is reused."""

    list_display = ["id", "user", "plzs", "status", "stripe_session_id", "created_at"]
    list_filter = ["status"]
    search_fields = ["user__email", "=plzs", "=stripe_session_id"]
    list_select_related = ["user"]
    readonly_fields = [f.name for f in PlzCheckout._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ImportSource)
class ImportSourceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "health",
        "last_poll_at",
        "last_success_at",
        "last_error_at",
        "last_error",
        "imported_total",
    ]
    readonly_fields = [f.name for f in ImportSource._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Health", boolean=True)
    def health(self, obj: ImportSource) -> bool:
        return obj.healthy


@admin.register(LeadEvent)
class LeadEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "action", "actor", "lead", "delivery", "subscription", "detail"]
    list_filter = ["action"]
    list_select_related = ["actor", "lead", "delivery", "subscription"]  # every column but two is a relation
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    readonly_fields = [f.name for f in LeadEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
