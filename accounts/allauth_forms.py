"""allauth's forms with the site's wording: "E-mail address", as on the log-in form and in the admin, not allauth's
"Email" (ACCOUNT_FORMS). Kept apart from accounts/forms.py, which allauth's SignupForm imports as its base."""

from allauth.account import forms as allauth_forms

EMAIL_LABEL = "E-mail address"


class _EmailWording:
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("email")
        if field is not None:
            field.label = EMAIL_LABEL
            field.widget.attrs["placeholder"] = EMAIL_LABEL


class SignupForm(_EmailWording, allauth_forms.SignupForm):
    pass


class AddEmailForm(_EmailWording, allauth_forms.AddEmailForm):
    pass


class ResetPasswordForm(_EmailWording, allauth_forms.ResetPasswordForm):
    pass
