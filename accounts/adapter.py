from dataclasses import dataclass
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from accounts.axes import attempts_left_warning
from accounts.services import terms_are_current

SITE_NAME = "JSN"
# allauth's errors for a wrong password at log-in ("…not correct") and at re-authentication: both count towards
# django-axes' lockout, so both say when the lockout is near.
WRONG_PASSWORD_ERRORS = frozenset({"email_password_mismatch", "incorrect_password"})


@dataclass(frozen=True)
class MailSite:
    """What allauth's e-mail templates read as `current_site` (a django.contrib.sites Site, or Django's RequestSite
    naming the site after the request's host when the sites framework is not installed, as here)."""

    name: str
    domain: str


def mail_site() -> MailSite:
    """The product, named as people know it, at the address its links use (SITE_URL)."""
    return MailSite(name=SITE_NAME, domain=urlsplit(settings.SITE_URL).netloc)


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """After log-in, a user whose accepted terms are outdated is asked to accept the new version first."""
        url = super().get_login_redirect_url(request)
        user = request.user
        if user.is_authenticated and not user.is_staff and not terms_are_current(user=user):
            return f"{reverse('terms')}?{urlencode({'next': url})}"
        return url

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Every allauth e-mail greets from JSN ("Hello from JSN!"), not from the server's host and port."""
        super().send_mail(template_prefix, email, {**context, "current_site": mail_site()})

    def validation_error(self, code: str, *args: object) -> ValidationError:
        """A wrong password, when it leaves only one or two attempts before the account is locked, says so."""
        error = super().validation_error(code, *args)
        if code not in WRONG_PASSWORD_ERRORS:
            return error
        warning = attempts_left_warning(self.request)
        if not warning:
            return error
        return ValidationError(f"{error.message} {warning}", code=error.code, params=error.params)

    def get_password_change_redirect_url(self, request: HttpRequest) -> str:
        """After a password change (or a first password), the dashboard, with allauth's "Password successfully
        changed." message: not the same empty form again, which reads as if nothing happened."""
        return reverse("dashboard")
