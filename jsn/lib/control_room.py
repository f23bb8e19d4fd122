"""Small pieces shared by the admin control rooms (/admin/billing/, /admin/claims/)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.forms import Form
from django.http import HttpRequest, HttpResponse, QueryDict

from jsn.lib.api import BIGINT_MAX, MAX_PAGE

# An admin action posted with a selection that is not a list of the model's ids (jsn.middleware, dj-stripe's view).
BAD_SELECTION = "The selection was not a list of object ids; nothing was changed."


def plain_int(value: str) -> int | None:
    """A non-negative whole number written in ASCII digits ("²" is a digit to str.isdigit, not to int())."""
    return int(value) if value.isascii() and value.isdigit() else None


def plain_id(value: str) -> int | None:
    """A row id as a form sends it: ASCII digits, 1 to bigint's maximum (PostgreSQL and SQLite refuse larger)."""
    number = plain_int(str(value))
    return number if number is not None and 0 < number <= BIGINT_MAX else None


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


class StaffListFilterForm(forms.Form):
    """The filters every staff list shares (control room page and admin API alike): a user by e-mail or id, and a
    date range. Subclasses add their own fields and say which model field the dates filter in the labels."""

    user = forms.CharField(required=False, max_length=254, help_text="E-mail address or user id.")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean_user(self) -> int | str | None:
        return parse_user_ref(self.cleaned_data.get("user", ""))

    def clean(self) -> dict:
        data = super().clean()
        first, last = data.get("date_from"), data.get("date_to")
        if first and last and first > last:
            raise forms.ValidationError("The date range ends before it starts.", code="invalid_range")
        return data

    def shared_filters(self) -> dict:
        """Selector keyword arguments of the shared fields (call after is_valid())."""
        data = self.cleaned_data
        user = data.get("user")
        return {
            "status": data.get("status") or "",
            "user_id": user if isinstance(user, int) else None,
            "email": user if isinstance(user, str) else "",
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
        }


def require_perm(request: HttpRequest, permission: str) -> None:
    """admin_view lets every active staff member in; each operation also needs its Django permission."""
    if not request.user.has_perm(permission):
        raise PermissionDenied("You do not have permission to do this.")


def selected_ids(request: HttpRequest) -> list[int]:
    """The ids ticked in a list (the admin's own checkbox name, so the changelist actions read them too)."""
    ids = (plain_id(v) for v in request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME))
    return sorted({i for i in ids if i is not None})


def page_number(params: QueryDict) -> int:
    page = plain_int(params.get("page", "1"))
    return min(max(page, 1), MAX_PAGE) if page is not None else 1


def query_with(params: QueryDict, **changes: object) -> str:
    """The query string with some parameters replaced (None removes one): filters survive paging and export."""
    query = params.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    return query.urlencode()


def page_links(params: QueryDict, *, page: int, has_next: bool) -> dict[str, str | None]:
    return {
        "next_query": query_with(params, page=page + 1) if has_next else None,
        "previous_query": query_with(params, page=page - 1 if page > 2 else None) if page > 1 else None,
        "export_query": query_with(params, page=None),
    }


def model_links(request: HttpRequest, *, app_label: str) -> list[dict]:
    """What Django's app index listed: the app's models this user may see, with their admin links."""
    apps = admin.site.get_app_list(request, app_label=app_label)
    return apps[0]["models"] if apps else []


def invalid_filters(form: Form) -> HttpResponse:
    """400 for an export whose filters do not parse: exporting everything instead would be a surprise."""
    problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in form.errors.items())
    return HttpResponse(f"Invalid filters — {problems}", status=400, content_type="text/plain; charset=utf-8")
