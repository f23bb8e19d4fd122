"""Forms of the billing back office: the invoice filters (shared by the control room and the admin API)."""

from django import forms

from billing.models import Invoice
from jsn.lib.control_room import StaffListFilterForm


class InvoiceFilterForm(StaffListFilterForm):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Invoice.Status.choices])
    currency = forms.CharField(required=False, max_length=3, min_length=3)
    field_order = ["status", "user", "date_from", "date_to", "currency"]

    def clean_currency(self) -> str:
        return (self.cleaned_data.get("currency") or "").strip().lower()

    def filters(self) -> dict:
        """The keyword arguments of selectors.invoice_list_staff (call after is_valid())."""
        return {**self.shared_filters(), "currency": self.cleaned_data.get("currency") or ""}


class GenerateDailyForm(forms.Form):
    """Bill one ended day now (the daily job, for that day only)."""

    day = forms.DateField(
        label="Billing day",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A day that has ended in the billing time zone; days already billed are left as they are.",
    )
