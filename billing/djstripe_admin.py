"""dj-stripe's admin action confirmation (`/admin/djstripe/<admin>/action/<action>/<model>/`), made safe for staff.

dj-stripe 2.11's `ConfirmCustomAction`, which its "Re-Sync Selected Instances", "Sync All Instances" and
"Cancel" confirmation pages post to:
- answers a GET with 500 (its template reverses the action URL with empty names);
- answers a selection that is not a list of integers, or an unknown model, with 500;
- runs `getattr(self, action_name)` for whatever name the URL carries;
- checks only that the user is staff: a support account without any Stripe permission could cancel a subscription;
- lets a Stripe error (an unknown object, no answer) escape as a 500.

This view is mounted at the same path before admin.site.urls (jsn/urls.py), so dj-stripe's own links and forms
land here; the list pages offer the actions only to users with the change permission
(`actions_require_change_permission`). What it adds in front of dj-stripe's view: a GET goes back to the list with
a message; the model must be one of dj-stripe's with an admin, the action one that admin offers, and the user needs
the admin's change permission (every action here writes: it overwrites the local mirror or cancels in Stripe); a
malformed selection is refused with a message, as is any action while Stripe is not connected (dj-stripe's "Sync
All" reported success then); a Stripe error becomes an error message on the list. The work itself stays dj-stripe's.
"""

from typing import Any

import stripe
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from djstripe.admin.views import ConfirmCustomAction

from billing import stripe_gateway
from jsn.lib.control_room import BAD_SELECTION, plain_id

# The handlers ConfirmCustomAction defines; anything else in the URL is not an action.
ACTIONS = frozenset(
    {
        "_resync_instances",
        "_sync_all_instances",
        "_cancel",
        "_release_subscription_schedule",
        "_cancel_subscription_schedule",
    }
)
GET_MESSAGE = "Choose the objects on the list and pick the action there; this page only confirms it."
NOT_CONNECTED = "Stripe is not connected (no API key for this mode): nothing was synced or cancelled."


def actions_require_change_permission() -> None:
    """dj-stripe's actions offered only to users with the model's change permission (Django's
    `allowed_permissions`), so staff who may only look are not shown buttons the confirmation then refuses. Called
    once the admin site is filled (BillingConfig.ready); the functions are shared by every dj-stripe admin."""
    for model in apps.get_app_config("djstripe").get_models():
        try:
            model_admin = admin.site.get_model_admin(model)
        except NotRegistered:
            continue
        for name in ACTIONS:
            function = getattr(type(model_admin), name, None)
            if callable(function) and not hasattr(function, "allowed_permissions"):
                function.allowed_permissions = ("change",)


def _searchable(model: type[models.Model], search_field: str) -> bool:
    """Whether a ModelAdmin search field names a path of real fields (a trailing lookup such as `__iexact` allowed)."""
    path = search_field.lstrip("^=@").split(LOOKUP_SEP)
    for end in range(len(path), 0, -1):
        try:
            get_fields_from_path(model, LOOKUP_SEP.join(path[:end]))
        except (FieldDoesNotExist, NotRelationField):
            continue
        return end >= len(path) - 1  # at most one trailing lookup
    return False


def search_fields_that_exist() -> dict[str, list[str]]:
    """dj-stripe 2.11 lists search fields some of its models no longer have (a customer's or an account's
    `description`, an invoice's `number`, …: moved into `stripe_data`), so a search on those lists was a 500
    (FieldError). Each dj-stripe admin keeps the search fields that exist, plus the Stripe id (`=id`, exact: staff
    paste `cus_…`, `in_…` from Stripe's dashboard); returns what was dropped, per model."""
    dropped: dict[str, list[str]] = {}
    for model in apps.get_app_config("djstripe").get_models():
        try:
            model_admin = admin.site.get_model_admin(model)
        except NotRegistered:
            continue
        fields = list(model_admin.search_fields or ())
        kept = [field for field in fields if _searchable(model, field)]
        if _searchable(model, "id") and "id" not in {field.lstrip("^=@") for field in kept}:
            kept.append("=id")
        if kept != fields:
            model_admin.search_fields = kept
            if gone := [field for field in fields if field not in kept]:
                dropped[model._meta.label] = gone
    return dropped


def changelist_url(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


class SafeConfirmCustomAction(ConfirmCustomAction):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # The model is the last segment; the first (`admin_model`) is whichever dj-stripe admin Django reversed
        # the shared URL name to, and means nothing.
        model, model_admin = self._model_and_admin(kwargs.get("model_name", ""))
        action = kwargs.get("action_name", "")
        if action not in ACTIONS:
            raise Http404("This action is not offered for this model.")
        if not model_admin.has_change_permission(request):
            raise PermissionDenied
        if action not in model_admin.get_actions(request):
            raise Http404("This action is not offered for this model.")
        if request.method != "POST":
            messages.info(request, GET_MESSAGE)
            return HttpResponseRedirect(changelist_url(model))
        if not stripe_gateway.is_enabled():  # dj-stripe would try anyway and then report success
            messages.error(request, NOT_CONNECTED)
            return HttpResponseRedirect(changelist_url(model))
        if action != "_sync_all_instances" and not self._selection_is_ids(request):
            messages.error(request, BAD_SELECTION)
            return HttpResponseRedirect(changelist_url(model))
        try:
            return super().dispatch(request, *args, **kwargs)
        except stripe.StripeError as exc:
            messages.error(request, f"Stripe did not complete the action: {exc.user_message or exc}")
            return HttpResponseRedirect(changelist_url(model))

    @staticmethod
    def _model_and_admin(model_name: str) -> tuple[type[models.Model], admin.ModelAdmin]:
        try:
            model = apps.get_model("djstripe", model_name)
        except LookupError:
            raise Http404("No such Stripe model.") from None
        try:
            return model, admin.site.get_model_admin(model)
        except NotRegistered:
            raise Http404("This Stripe model has no admin.") from None

    @staticmethod
    def _selection_is_ids(request: HttpRequest) -> bool:
        """dj-stripe's primary keys are bigints, and its view calls int() on each selected value."""
        return all(plain_id(value) is not None for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
