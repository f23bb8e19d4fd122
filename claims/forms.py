"""Forms of the claims back office: the claim filters (shared by the control room and the admin API) and the staff
operations on a user (release all, claim limit)."""

from typing import Any

from django import forms
from django.conf import settings

from accounts.models import User
from claims.models import Claim
from jsn.lib.control_room import StaffListFilterForm, parse_user_ref

NO_SUCH_USER = "No such user."


class ClaimFilterForm(StaffListFilterForm):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Claim.Status.choices])
    case = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Case id")
    date_from = forms.DateField(required=False, label="Claimed from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="Claimed to", widget=forms.DateInput(attrs={"type": "date"}))
    field_order = ["status", "user", "case", "date_from", "date_to"]

    def filters(self) -> dict:
        """The keyword arguments of selectors.claim_list_staff (call after is_valid())."""
        return {**self.shared_filters(), "case_id": self.cleaned_data.get("case")}


class UserField(forms.CharField):
    """A user named by e-mail address or id, cleaned to the User (a form error when there is none)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 254)
        kwargs.setdefault("help_text", "E-mail address or user id.")
        super().__init__(**kwargs)

    def clean(self, value: str) -> User:
        ref = parse_user_ref(super().clean(value))
        if ref is None:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        lookup = {"pk": ref} if isinstance(ref, int) else {"email": ref}
        try:
            return User.objects.get(**lookup)
        except User.DoesNotExist:
            raise forms.ValidationError(NO_SUCH_USER, code="no_such_user") from None


class ControlRoomForm(forms.Form):
    """A form of the claims control room, which shows several on one page: each gets its own id prefix, so two
    `reason` or `user` fields never share an HTML id (and a label never points at the other form's field)."""

    id_prefix = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}-%s")
        super().__init__(*args, **kwargs)


class ReleaseSelectedForm(ControlRoomForm):
    id_prefix = "release-selected"
    reason = forms.CharField(
        required=False, max_length=200, help_text="Recorded in the audit trail and told to the owner."
    )


class ReleaseAllForm(ControlRoomForm):
    id_prefix = "release-all"
    user = UserField()
    reason = forms.CharField(max_length=200, help_text="Recorded in the audit trail and told to the owner.")


class ClaimLimitForm(ControlRoomForm):
    id_prefix = "claim-limit"
    user = UserField()
    claim_limit = forms.IntegerField(
        min_value=1,
        max_value=settings.MAX_CLAIM_LIMIT,
        help_text=f"1–{settings.MAX_CLAIM_LIMIT}. Claims already held are kept; only new claims count against it.",
    )
    reason = forms.CharField(required=False, max_length=200, help_text="Recorded in the audit trail.")
