"""Parsing the case list's query string, shared by the API and the HTML page."""

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from django import forms
from django.http import QueryDict

from cases import masking
from cases.models import Case

SORT_CHOICES = [
    ("-score", "Score, highest first"),
    ("score", "Score, lowest first"),
    ("auction_date", "Auction date, soonest first"),
    ("-auction_date", "Auction date, latest first"),
    ("-filing_date", "Filing date, newest first"),
]
CLAIMED_CHOICES = [
    ("", "All cases"),
    ("claimable", "Open to claim"),  # what a subscriber can claim now (Case.claimable_q, nobody holds it)
    ("unclaimed", "Unclaimed"),
    ("claimed", "Claimed"),
    ("mine", "Mine"),
]
# Parameters that are not filters (pagination, DRF's format switch, htmx's partial flag).
NON_FILTER_KEYS = frozenset({"page", "page_size", "format", "partial"})


class CaseFilterForm(forms.Form):
    state = forms.CharField(required=False, max_length=2)
    county = forms.CharField(required=False, max_length=64)
    stage = forms.ChoiceField(required=False, choices=[("", "Any stage"), *Case.Stage.choices])
    score_min = forms.IntegerField(required=False, min_value=0, max_value=100, label="Score from")
    score_max = forms.IntegerField(required=False, min_value=0, max_value=100, label="Score to")
    auction_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    auction_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    claimed = forms.ChoiceField(required=False, choices=CLAIMED_CHOICES, label="Claimed")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)

    def clean_state(self) -> str:
        return (self.cleaned_data.get("state") or "").strip().upper()

    def clean(self) -> dict:
        data = super().clean()
        lo, hi = data.get("score_min"), data.get("score_max")
        if lo is not None and hi is not None and lo > hi:
            raise forms.ValidationError("Score from must not be above score to.", code="invalid_range")
        a, b = data.get("auction_from"), data.get("auction_to")
        if a and b and a > b:
            raise forms.ValidationError("The auction date range ends before it starts.", code="invalid_range")
        return data

    def show_rejected_values(self) -> None:
        """Let the page show back a value it rejected. A select cannot show a value that is not among its options and
        a browser blanks a number or date input it cannot parse, so a bad value from the address bar would look like
        "any" next to an error about it: the select gains it as a marked option, the input becomes plain text."""
        for name, form_field in self.fields.items():
            raw = self.data.get(self.add_prefix(name), "")
            if name not in self.errors or not raw:
                continue
            if isinstance(form_field, forms.ChoiceField):
                if raw not in {str(value) for value, _label in form_field.choices}:
                    form_field.choices = [*form_field.choices, (raw, f"{raw} (not an option)")]
            elif getattr(form_field.widget, "input_type", "") in ("number", "date") and not _parses(form_field, raw):
                form_field.widget.input_type = "text"  # out-of-range numbers and dates stay: a browser shows them


def _parses(form_field: forms.Field, raw: str) -> bool:
    try:
        form_field.to_python(raw)
    except forms.ValidationError:
        return False
    return True


@dataclass(frozen=True)
class CaseFilters:
    state: str = ""
    county: str = ""
    stage: str = ""
    score_min: int | None = None
    score_max: int | None = None
    auction_from: date | None = None
    auction_to: date | None = None
    claimed: str = ""
    sort: str = "-score"


@dataclass
class ParsedFilters:
    filters: CaseFilters
    form: CaseFilterForm
    refused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.form.is_valid() and not self.refused


def parse_case_filters(params: QueryDict, *, sees_everything: bool) -> ParsedFilters:
    """Validate list parameters. Masked fields are refused (not silently ignored) for non-staff."""
    form = CaseFilterForm(params)
    keys = [k for k in params if k not in NON_FILTER_KEYS]
    refused = (
        [] if sees_everything else masking.refused_query_keys(keys, params.getlist("sort") + params.getlist("ordering"))
    )
    # `ordering` (DRF's name) is not ours: unknown like any other (`sort` sorts), after the masked-field check.
    unknown = [k for k in keys if k not in form.fields and k not in refused]
    if refused:
        form.is_valid()
        if "sort" in form.errors and masking.refused_query_keys((), params.getlist("sort")):
            del form.errors["sort"]  # the refusal says it; "not a valid choice" as well would be the same error twice
        form.add_error(None, masking.MASKED_FIELD_REFUSED.format(field=", ".join(refused)))
    filters = CaseFilters()
    if form.is_valid():
        cleaned = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        filters = CaseFilters(**cleaned)
    return ParsedFilters(filters=filters, form=form, refused=refused, unknown=unknown)


@dataclass(frozen=True)
class CheckedFilters:
    """What the API needs of ParsedFilters (no form object), safe to share between requests."""

    filters: CaseFilters
    refused: tuple[str, ...]
    unknown: tuple[str, ...]
    refused_detail: str
    errors: dict[str, Any] | None  # the form's errors as JSON data when invalid

    @property
    def ok(self) -> bool:
        return not self.refused and not self.unknown and self.errors is None


def check_case_filters(params: QueryDict, *, sees_everything: bool) -> CheckedFilters:
    """parse_case_filters for the API, remembered per distinct set of filter parameters: the pages of one filter, and
    the popular filters, parse once per process (a Django form costs a deep copy of its fields per request).

    The answer depends on nothing but the parameters (pagination keys aside) and the viewer's staff flag; messages
    are stored as text in the site's one language."""
    key = tuple((k, tuple(params.getlist(k))) for k in sorted(params) if k not in NON_FILTER_KEYS)
    return _checked(key, sees_everything)


@lru_cache(maxsize=512)
def _checked(key: tuple[tuple[str, tuple[str, ...]], ...], sees_everything: bool) -> CheckedFilters:
    params = QueryDict(mutable=True)
    for name, values in key:
        params.setlist(name, list(values))
    parsed = parse_case_filters(params, sees_everything=sees_everything)
    valid = parsed.form.is_valid()
    return CheckedFilters(
        filters=parsed.filters,
        refused=tuple(parsed.refused),
        unknown=tuple(parsed.unknown),
        refused_detail=str(parsed.form.non_field_errors()[0]) if parsed.refused else "",
        errors=None if valid else parsed.form.errors.get_json_data(),
    )
