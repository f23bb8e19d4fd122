from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import include, path, reverse
from django.utils.http import urlencode
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from billing.djstripe_admin import SafeConfirmCustomAction
from jsn import views
from leads.webhooks import tracking_urlpatterns


@login_not_required
def admin_login(request):
    """The admin uses the site's login (allauth), so lockouts and verification apply there too."""
    if request.user.is_authenticated:
        # Logged in but not staff: sending them to the login page would bounce straight back here.
        raise PermissionDenied("The back office is for JSN staff.")
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


admin.site.login = admin_login
handler404 = "jsn.views.page_not_found"
admin.site.site_header = "JSN back office"
admin.site.site_title = "JSN admin"
admin.site.index_title = "Operations"

handler500 = "jsn.views.server_error"  # a database outage answers 503, not 500 (jsn/lib/unavailable.py)

urlpatterns = [
    # First: the API is what scripts call most, and Django tries the patterns in order on every request.
    path("api/v3/", include("jsn.api_urls")),
    path("", views.landing, name="landing"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("health/", views.health, name="health"),
    path("cases/documents/", include("cases.document_urls")),
    path("me/", include("accounts.urls")),
    path("cases/", include("cases.urls")),
    path("claims/", include("claims.urls")),
    path("billing/", include("billing.urls")),
    path("leads/", include("leads.urls")),
    path("accounts/", include("allauth.urls")),
    # Control rooms that replace the admin's app index pages for billing and claims: before admin.site.urls.
    path("admin/billing/", include("billing.admin_urls")),
    path("admin/claims/", include("claims.admin_urls")),
    # Audit timelines live under /admin/ and go through admin_view (staff only); listed first so the admin's
    # catch-all app URLs do not swallow them.
    path("admin/audit/", include("audit.urls")),
    # dj-stripe's action confirmation, at its own path, with the checks its view lacks (billing/djstripe_admin.py).
    path(
        "admin/djstripe/<str:admin_model>/action/<str:action_name>/<str:model_name>/",
        admin.site.admin_view(SafeConfirmCustomAction.as_view()),
        name="djstripe_custom_action_checked",
    ),
    path("admin/", admin.site.urls),
    # dj-stripe's webhook endpoint: stripe/webhook/<uuid>/ (create it with `manage.py stripe_webhook_endpoint_create`).
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    # The mail provider's tracking webhook, /anymail/<esp>/tracking/, only when ANYMAIL_ESP names one.
    *tracking_urlpatterns(),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
