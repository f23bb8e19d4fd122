from django.contrib import admin

from cases.models import Case, Contact, Document


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


class DocumentInline(admin.TabularInline):
    model = Document
    extra = 0
    fields = ["kind", "title", "file", "page_count", "size_bytes", "created_at"]
    readonly_fields = ["size_bytes", "created_at"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "case_number", "state", "county", "stage", "score", "status", "assigned_to", "auction_date"]
    list_filter = ["status", "stage", "state", "property_type"]
    search_fields = ["case_number", "county", "city", "zip_code", "parcel_number"]
    list_select_related = ["assigned_to"]
    readonly_fields = ["assigned_to", "assigned_at", "created_at", "updated_at"]
    inlines = [ContactInline, DocumentInline]
    date_hierarchy = "filing_date"
    show_full_result_count = False
