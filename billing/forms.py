"""Forms of the billing back office: the invoice filters (shared by the control room and the admin API)."""

from django import forms

from billing.models import Invoice
from jsn.lib.api import BIGINT_MAX


def parse_user_ref(value: str) -> int | str | None:
    """A user given as an id ("42") or an e-mail address (case-insensitive); None for anything else."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        if int(value) > BIGINT_MAX:  # PostgreSQL would refuse the comparison: no such user either way
            raise forms.ValidationError("No such user id.", code="invalid_user")
        return int(value)
    if "@" in value:
        return value.lower()
    raise forms.ValidationError("Give an e-mail address or a user id.", code="invalid_user")


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Invoice.Status.choices])
    user = forms.CharField(required=False, max_length=254, help_text="E-mail address or user id.")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    currency = forms.CharField(required=False, max_length=3, min_length=3)

    def clean_user(self) -> int | str | None:
        return parse_user_ref(self.cleaned_data.get("user", ""))

    def clean_currency(self) -> str:
        return (self.cleaned_data.get("currency") or "").strip().lower()

    def clean(self) -> dict:
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first > last:
            raise forms.ValidationError("The date range ends before it starts.", code="invalid_range")
        return data

    def filters(self) -> dict:
        """The keyword arguments of selectors.invoice_list_staff (call after is_valid())."""
        data = self.cleaned_data
        user = data.get("user")
        return {
            "status": data.get("status") or "",
            "user_id": user if isinstance(user, int) else None,
            "email": user if isinstance(user, str) else "",
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "currency": data.get("currency") or "",
        }


class GenerateDailyForm(forms.Form):
    """Bill one ended day now (the daily job, for that day only)."""

    day = forms.DateField(
        label="Billing day",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A day that has ended in the billing time zone; days already billed are left as they are.",
    )
