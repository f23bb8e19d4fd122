"""dj-stripe's admin actions (re-sync, sync all, cancel) as staff use them, behind billing/djstripe_admin.py.

dj-stripe 2.11's confirmation view answered a GET, a malformed selection, an unknown model or action, and a Stripe
error with 500, and let any staff member run any action. Here: the flow from the list through dj-stripe's own
confirmation page, and each of those refused with a clear answer and nothing changed.
"""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import resolve
from djstripe.models import Customer

from billing import stripe_gateway
from billing.djstripe_admin import BAD_SELECTION, GET_MESSAGE, NOT_CONNECTED
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/djstripe/customer/"
RESYNC = "/admin/djstripe/customer/action/_resync_instances/customer/"


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(email="boss@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def mirrored(fake_stripe, subscriber):
    """A customer mirrored locally, whose e-mail has since changed in Stripe (the mirror is stale)."""
    customer = stripe_gateway.customer_ensure(user=subscriber)
    fake_stripe.objects[customer.id]["email"] = "changed-in-stripe@example.com"
    return customer


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_resync_from_the_list_through_the_confirmation_updates_the_mirror(superuser_client, fake_stripe, mirrored):
    # The list's action renders dj-stripe's confirmation page, whose form posts to the action URL.
    confirm = superuser_client.post(CHANGELIST, {"action": "_resync_instances", "_selected_action": [mirrored.pk]})
    assert confirm.status_code == 200
    action_url = re.search(r'<form[^>]*action="([^"]+)"', confirm.content.decode()).group(1)
    # dj-stripe reverses one URL name that every one of its admins registers, so the first path segment is
    # whichever admin Django finds first; the model travels in the last one.
    match = resolve(action_url)
    assert match.url_name == "djstripe_custom_action_checked"
    assert (match.kwargs["action_name"], match.kwargs["model_name"]) == ("_resync_instances", "customer")

    done = superuser_client.post(action_url, {"_selected_action": [mirrored.pk]}, follow=True)

    assert done.redirect_chain[-1] == (CHANGELIST, 302)
    assert Customer.objects.get(pk=mirrored.pk).email == "changed-in-stripe@example.com"
    assert any(m.startswith("Successfully Synced") for m in _messages(done))
    assert fake_stripe.requests("GET", f"/v1/customers/{mirrored.id}")


def test_a_get_goes_back_to_the_list_with_a_message(superuser_client, fake_stripe, mirrored):
    response = superuser_client.get(RESYNC, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert GET_MESSAGE in _messages(response)
    assert not fake_stripe.requests("GET", f"/v1/customers/{mirrored.id}")


@pytest.mark.parametrize(
    "url",
    [
        "/admin/djstripe/customer/action/_resync_instances/nosuchmodel/",  # not a dj-stripe model
        "/admin/djstripe/customer/action/dispatch/customer/",  # a method of the view, not an action
        "/admin/djstripe/customer/action/_cancel/customer/",  # an action the customer admin does not offer
    ],
)
def test_an_unknown_model_or_action_is_not_found(superuser_client, fake_stripe, mirrored, url):
    for method in ("get", "post"):
        response = getattr(superuser_client, method)(url, {"_selected_action": [mirrored.pk]})
        assert response.status_code == 404, (method, url)
    assert Customer.objects.get(pk=mirrored.pk).email != "changed-in-stripe@example.com"
    assert not fake_stripe.requests("GET", f"/v1/customers/{mirrored.id}")


@pytest.mark.parametrize("selection", [["abc"], ["1", "2x"], ["99999999999999999999"], ["²"]])
def test_a_malformed_selection_is_refused_with_a_message(superuser_client, fake_stripe, mirrored, selection):
    response = superuser_client.post(RESYNC, {"_selected_action": selection}, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert BAD_SELECTION in _messages(response)
    assert not fake_stripe.requests("GET", f"/v1/customers/{mirrored.id}")


def test_staff_who_may_only_view_customers_cannot_run_an_action(client, fake_stripe, mirrored):
    viewer = UserFactory(email="support@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_customer", content_type__app_label="djstripe"))
    client.force_login(viewer)
    listing = client.get(CHANGELIST)
    assert listing.status_code == 200  # they can see the list, without actions they may not run
    assert "action_form" not in listing.context or not listing.context["action_form"]
    assert "_resync_instances" not in listing.content.decode()
    assert "_sync_all_instances" not in listing.content.decode()

    for method in ("get", "post"):
        assert getattr(client, method)(RESYNC, {"_selected_action": [mirrored.pk]}).status_code == 403

    assert Customer.objects.get(pk=mirrored.pk).email != "changed-in-stripe@example.com"
    assert not fake_stripe.requests("GET", f"/v1/customers/{mirrored.id}")


def test_staff_who_may_change_customers_are_offered_the_actions(client, fake_stripe, mirrored):
    editor = UserFactory(email="billing-desk@example.com", is_staff=True)
    perms = Permission.objects.filter(
        codename__in=["view_customer", "change_customer"], content_type__app_label="djstripe"
    )
    editor.user_permissions.add(*perms)
    client.force_login(editor)

    page = client.get(CHANGELIST).content.decode()

    assert 'value="_resync_instances"' in page and 'value="_sync_all_instances"' in page


def test_a_stripe_error_is_a_message_on_the_list_not_a_500(superuser_client, fake_stripe, mirrored):
    fake_stripe.inject("server_error", "GET", rf"/v1/customers/{mirrored.id}", times=None)

    response = superuser_client.post(RESYNC, {"_selected_action": [mirrored.pk]}, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert any(m.startswith("Stripe did not complete the action") for m in _messages(response))
    assert Customer.objects.get(pk=mirrored.pk).email != "changed-in-stripe@example.com"


@pytest.mark.parametrize("url", [RESYNC, "/admin/djstripe/customer/action/_sync_all_instances/customer/"])
def test_without_stripe_keys_an_action_says_so_instead_of_reporting_success(
    superuser_client, fake_stripe, mirrored, settings, url
):
    settings.STRIPE_TEST_SECRET_KEY = ""
    sent = len(fake_stripe.log)

    response = superuser_client.post(url, {"_selected_action": [mirrored.pk]}, follow=True)

    assert response.redirect_chain == [(CHANGELIST, 302)]
    assert _messages(response) == [NOT_CONNECTED]
    assert len(fake_stripe.log) == sent
