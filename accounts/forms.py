from django import forms
from django.conf import settings
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest

from accounts.models import User
from accounts.services import terms_accept

# Django's own wording for a unique field, so the admin reads the same for `alice@x` and `Alice@X`.
EMAIL_TAKEN = "User with this E-mail address already exists."


class SignupForm(forms.Form):
    """allauth's sign-up form gains a required terms checkbox (ACCOUNT_SIGNUP_FORM_CLASS)."""

    accept_terms = forms.BooleanField(
        required=True,
        label="I accept the terms of service",
        error_messages={"required": "You must accept the terms of service to create an account."},
    )

    def signup(self, request: HttpRequest, user: User) -> None:
        terms_accept(user=user)


class TermsForm(forms.Form):
    accept_terms = forms.BooleanField(
        required=True,
        label="I accept these terms of service",
        error_messages={"required": "Tick the box to accept the terms."},
    )

    @property
    def version(self) -> str:
        return settings.TERMS_VERSION


class CloseAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput, label="Your password")
    confirm = forms.CharField(label="Type CLOSE to confirm")

    def __init__(self, *args: object, user: User, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"].strip() != "CLOSE":
            raise forms.ValidationError("Type CLOSE (in capitals) to confirm.")
        return "CLOSE"


class UniqueEmailMixin:
    """User.save() lowercases the e-mail address, so `Alice@JSN.local` collides with `alice@jsn.local` only at the
    INSERT/UPDATE (an IntegrityError, a 500). The form checks the address as it will be stored, ignoring case."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].lower()
        others = User.objects.filter(email__iexact=email)
        if self.instance.pk is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise forms.ValidationError(EMAIL_TAKEN, code="unique")
        return email


class UserAdminChangeForm(UniqueEmailMixin, UserChangeForm):
    pass


class UserAdminCreationForm(UniqueEmailMixin, AdminUserCreationForm):
    pass
