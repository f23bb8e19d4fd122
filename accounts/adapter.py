from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from accounts.services import terms_are_current


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """After log-in, a user whose accepted terms are outdated is asked to accept the new version first."""
        url = super().get_login_redirect_url(request)
        user = request.user
        if user.is_authenticated and not user.is_staff and not terms_are_current(user=user):
            return f"{reverse('terms')}?{urlencode({'next': url})}"
        return url
