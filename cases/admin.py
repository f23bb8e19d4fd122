from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from audit.selectors import Subject
from audit.views import timeline_url
from cases import masking
from cases.models import Case, Contact, Document
from cases.services import ALLOWED_COLUMNS, REQUIRED_COLUMNS, CaseImportFileError, case_import_csv
from jsn.lib.admin import CappedCountPaginator
from jsn.lib.control_room import plain_id

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # ~150,000 rows; larger files belong to `manage.py import_cases`
ERR_UPLOAD_TOO_LARGE = "The file is larger than 50 MB; import it with `manage.py import_cases` instead."


class AvailabilityFilter(admin.SimpleListFilter):
    """The dashboard's case figures as a filter: open to claim (Case.claimable_now_q), claimed, or neither (closed,
    sold or withdrawn, and not held)."""

    title = "availability"
    parameter_name = "availability"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("open", "Open to claim"), ("claimed", "Claimed"), ("unavailable", "Not claimable")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        if self.value() == "open":
            return queryset.filter(Case.claimable_now_q())
        if self.value() == "claimed":
            return queryset.filter(assigned_to__isnull=False)
        if self.value() == "unavailable":
            return queryset.filter(assigned_to__isnull=True).exclude(Case.claimable_q())
        return queryset


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


class DocumentInline(admin.TabularInline):
    model = Document
    extra = 0
    fields = ["kind", "title", "file", "page_count", "size_bytes", "created_at"]
    readonly_fields = ["size_bytes", "created_at"]


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MaskedContactInline(_ReadOnlyInline):
    """Support staff without contact access: each contact's relation and what is on file, never the values.

    Read-only on purpose: an editable form would carry every value in its inputs, and editing blind could only
    overwrite data the editor cannot check.
    """

    model = Contact
    fields = readonly_fields = ["relation", "on_file"]
    verbose_name_plural = "Contacts (withheld: your role needs contact-data access)"

    @admin.display(description="On file")
    def on_file(self, contact: Contact) -> str:
        summary = masking.summarise_contacts([contact])
        parts = ["name", masking.plural(summary.phones, "phone"), masking.plural(summary.emails, "e-mail")]
        if summary.mailing_addresses:
            parts.append("mailing address")
        return ", ".join(parts) + " on file"


class MaskedDocumentInline(_ReadOnlyInline):
    """Documents without their titles and files: both name the case's contacts (masking.present_document_title)."""

    model = Document
    fields = readonly_fields = ["kind", "page_count", "size_bytes", "created_at"]
    verbose_name_plural = "Documents (titles and files withheld)"


class CaseImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8 CSV with a header line; see the columns below.")
    source = forms.CharField(
        max_length=64, required=False, help_text="Recorded on every imported case (default: the file's name)."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(ERR_UPLOAD_TOO_LARGE)
        return upload


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "case_number", "state", "county", "stage", "score", "status", "assigned_to", "auction_date"]
    list_filter = [AvailabilityFilter, "status", "stage", "state", "property_type"]
    search_fields = ["case_number", "county", "city", "zip_code", "parcel_number"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    list_select_related = ["assigned_to"]
    readonly_fields = ["assigned_to", "assigned_at", "created_at", "updated_at"]
    inlines = [ContactInline, DocumentInline]
    date_hierarchy = "filing_date"
    show_full_result_count = False
    change_list_template = "admin/cases/case/change_list_with_import.html"

    def get_inlines(self, request: HttpRequest, obj: Case | None) -> list[type[admin.options.InlineModelAdmin]]:
        if not request.user.contact_data_withheld:
            return self.inlines
        masked = {ContactInline: MaskedContactInline, DocumentInline: MaskedDocumentInline}
        return [masked.get(inline, inline) for inline in self.inlines]

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        # Searching by a contact's name or phone would answer "is this person on file?" for a value one may not
        # see: an oracle. Support staff without contact access never search contact fields.
        fields = list(super().get_search_fields(request))
        if request.user.contact_data_withheld:
            fields = [f for f in fields if not f.lstrip("=^@").startswith("contacts__")]
        return fields

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if (pk := plain_id(object_id)) is not None:
            extra_context["timeline_url"] = timeline_url(viewer=request.user, subject=Subject.CASE, pk=pk)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        import_url = path("import-csv/", self.admin_site.admin_view(self.import_csv_view), name="cases_case_import")
        return [import_url, *super().get_urls()]

    def has_import_permission(self, request: HttpRequest) -> bool:
        # An import both creates and updates cases.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "has_import_permission": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_csv_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV → case_import (the same validation as the command) → show the report."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        report = None
        if request.method == "POST":
            form = CaseImportForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                source = form.cleaned_data["source"] or upload.name[:64]
                try:
                    report = case_import_csv(data=upload.read(), source=source)
                except CaseImportFileError as error:
                    form.add_error("file", str(error))
                else:
                    level = messages.WARNING if report.rejected else messages.SUCCESS
                    self.message_user(request, f"Imported {upload.name}: {report.summary()}.", level)
                    form = CaseImportForm()
        else:
            form = CaseImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Import cases from CSV",
            "form": form,
            "report": report,
            "required_columns": REQUIRED_COLUMNS,
            "optional_columns": [column for column in ALLOWED_COLUMNS if column not in REQUIRED_COLUMNS],
        }
        return TemplateResponse(request, "admin/cases/case/import_csv.html", context)


# --- Document access log: read-only for everyone, here and per case (written by cases/documents.py only). ---
from cases.models import DocumentAccess  # noqa: E402

DOCUMENT_ACCESS_FIELDS = ["created_at", "action", "result", "reason", "user", "document", "case", "ip"]


class ReadOnlyAccessMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DocumentAccessInline(ReadOnlyAccessMixin, admin.TabularInline):
    model = DocumentAccess
    fk_name = "case"
    fields = readonly_fields = [f for f in DOCUMENT_ACCESS_FIELDS if f != "case"]
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "Document accesses (read-only)"


CaseAdmin.inlines = [*CaseAdmin.inlines, DocumentAccessInline]


@admin.register(DocumentAccess)
class DocumentAccessAdmin(ReadOnlyAccessMixin, admin.ModelAdmin):
    list_display = DOCUMENT_ACCESS_FIELDS
    list_filter = ["result", "action", "reason", "created_at"]
    list_select_related = ["user", "document", "case"]
    search_fields = ["user__email", "ip"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    readonly_fields = DOCUMENT_ACCESS_FIELDS
    # No date_hierarchy: it reads every row of the table (SELECT DISTINCT date_trunc) on each page load, which grows
    # with the audit trail; the date filter in the sidebar costs no query (bench/admin.py).
    show_full_result_count = False
    paginator = CappedCountPaginator  # the page's COUNT(*) would read every access ever logged
