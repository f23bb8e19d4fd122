"""PLZ payment edges: a double click on "Pay with Stripe" starts one Checkout; a second Stripe subscription for
PLZs already paid is canceled (or flagged); the Billing Portal link; the renewal-gap grace for Stripe rows."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import stripe_gateway
from leads.models import Delivery, LeadEvent, PlzCheckout, PlzSubscription, eligible_subscriptions_q
from leads.services import (
    CHECKOUT_REUSE,
    deliveries_send_due,
    lead_distribute,
    subscription_request,
)
from tests.factories import UserFactory
from tests.leads.helpers import ready_leads
from tests.leads.test_stripe_subscriptions import pay, plz_price, rows  # noqa: F401  (fixtures)
from tests.stripe.test_webhooks import deliver_event, endpoint  # noqa: F401  (fixture)

CHECKOUT_POST = r"/v1/checkout/sessions"
DELETE_SUB = r"/v1/subscriptions/sub_\w+"


def pay_page(client: Client):
    return client.post(reverse("leads_subscriptions_pay"))


# --- double click on "Pay with Stripe" -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_double_click_gets_the_same_checkout_session(client, fake_stripe, plz_price, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    subscription_request(user=subscriber, plz="80331")
    client.force_login(subscriber)

    first, second = pay_page(client), pay_page(client)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    (session,) = fake_stripe.of_type("checkout.session")
    assert first["Location"] == session["url"]
    (checkout,) = PlzCheckout.objects.all()
    assert (checkout.plzs, checkout.status, checkout.stripe_session_id) == ("10115,80331", "open", session["id"])
    assert session["metadata"]["jsn_checkout_id"] == str(checkout.pk)
    (request,) = fake_stripe.requests("POST", CHECKOUT_POST)
    assert request.idempotency_key == f"jsn-plzco-{checkout.pk}"


@pytest.mark.django_db
def test_another_plz_set_or_a_later_attempt_gets_a_new_session(client, fake_stripe, plz_price, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        first = pay_page(client)["Location"]
        subscription_request(user=subscriber, plz="80331")
        other_set = pay_page(client)["Location"]  # 10115 + 80331: another request
        assert other_set != first
        clock.move_to(start + CHECKOUT_REUSE - timedelta(seconds=1))
        assert pay_page(client)["Location"] == other_set  # still the same click window
        clock.move_to(start + CHECKOUT_REUSE + timedelta(seconds=1))
        later = pay_page(client)["Location"]
    assert later not in (first, other_set)
    assert len(fake_stripe.of_type("checkout.session")) == 3
    assert sorted(PlzCheckout.objects.values_list("plzs", "status")) == [
        ("10115", "open"),
        ("10115,80331", "open"),
        ("10115,80331", "superseded"),
    ]


@pytest.mark.django_db
def test_a_failed_stripe_call_does_not_block_the_next_click(client, fake_stripe, plz_price, subscriber):  # noqa: F811
    """Stripe stores a 500 under its idempotency key: the next click must use a new row (and key)."""
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)
    fake_stripe.inject("server_error", "POST", CHECKOUT_POST, times=1)

    failed = client.post(reverse("leads_subscriptions_pay"), follow=True)
    assert "Stripe did not answer" in failed.content.decode()
    retried = pay_page(client)

    (session,) = fake_stripe.of_type("checkout.session")
    assert retried["Location"] == session["url"]
    keys = [r.idempotency_key for r in fake_stripe.requests("POST", CHECKOUT_POST)]
    assert len(set(keys)) == 2  # each attempt its own key; the failed one is never replayed to the user
    assert sorted(PlzCheckout.objects.values_list("status", flat=True)) == ["open", "superseded"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_simultaneous_clicks_start_one_checkout(fake_stripe, plz_price, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    stripe_gateway.customer_ensure(user=subscriber)  # the customer exists already (as after an earlier visit)
    barrier = threading.Barrier(4)
    locations: list[str] = []
    errors: list[BaseException] = []

    def click() -> None:
        try:
            client = Client()
            client.force_login(subscriber)
            barrier.wait(timeout=10)
            response = pay_page(client)
            locations.append(response["Location"])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    (session,) = fake_stripe.of_type("checkout.session")
    assert locations == [session["url"]] * 4
    assert PlzCheckout.objects.count() == 1
    created = [r for r in fake_stripe.requests("POST", CHECKOUT_POST) if r.status == 200 and not r.replayed]
    assert len(created) == 1


# --- a second subscription for the same PLZs (the webhook side) ----------------------------------------------------
@pytest.mark.django_db
def test_a_second_subscription_for_the_same_plzs_is_canceled_at_stripe_and_flagged(
    fake_stripe,
    endpoint,  # noqa: F811
    subscriber,
    pay,  # noqa: F811
):
    """Two Checkout tabs, both paid (e.g. one opened before the reuse window ended): one subscription stays."""
    kept = pay(subscriber, ["10115"])
    duplicate = pay(subscriber, ["10115"])

    assert rows(subscriber) == [("10115", "active", "stripe", kept)]
    assert fake_stripe.get(duplicate)["status"] == "canceled"
    assert [r.path for r in fake_stripe.requests("DELETE", DELETE_SUB)] == [f"/v1/subscriptions/{duplicate}"]
    (event,) = LeadEvent.objects.filter(action=LeadEvent.Action.SUBSCRIPTION_DUPLICATE)
    assert event.detail["stripe_subscription_id"] == duplicate
    assert event.detail["already_paid_by"] == {"10115": kept}
    assert event.detail["canceled_at_stripe"] is True
    assert "Refund" in event.detail["todo"]

    # Stripe delivers everything again, and the cancellation's own event: nothing more happens.
    for type_ in ("customer.subscription.created", "checkout.session.completed", "customer.subscription.deleted"):
        assert deliver_event(fake_stripe, endpoint, fake_stripe.last_event(type_)).status_code == 200
    assert len(fake_stripe.requests("DELETE", DELETE_SUB)) == 1
    assert LeadEvent.objects.filter(action=LeadEvent.Action.SUBSCRIPTION_DUPLICATE).count() == 1
    assert rows(subscriber) == [("10115", "active", "stripe", kept)]


@pytest.mark.django_db
def test_a_second_subscription_that_also_pays_new_plzs_is_kept_and_flagged(fake_stripe, subscriber, pay):  # noqa: F811
    kept = pay(subscriber, ["10115"])
    wider = pay(subscriber, ["10115", "80331"])

    assert rows(subscriber) == [("10115", "active", "stripe", kept), ("80331", "active", "stripe", wider)]
    assert fake_stripe.requests("DELETE") == []
    (event,) = LeadEvent.objects.filter(action=LeadEvent.Action.SUBSCRIPTION_DUPLICATE)
    assert (event.detail["canceled_at_stripe"], event.detail["already_paid_by"]) == (False, {"10115": kept})
    assert "lower the quantity" in event.detail["todo"]


@pytest.mark.django_db
def test_staff_see_duplicates_on_the_leads_admin_page(client, fake_stripe, subscriber, pay):  # noqa: F811
    pay(subscriber, ["10115"])
    pay(subscriber, ["10115"])
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:leads_lead_changelist")).content.decode()
    assert "1 duplicate Stripe subscription(s)" in page
    assert "?action__exact=subscription_duplicate" in page


@pytest.mark.django_db
def test_completing_checkout_marks_it_completed(client, fake_stripe, endpoint, plz_price, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)
    pay_page(client)
    (checkout,) = PlzCheckout.objects.all()

    event = fake_stripe.checkout_complete(checkout.stripe_session_id)
    assert deliver_event(fake_stripe, endpoint, event).status_code == 200

    checkout.refresh_from_db()
    assert checkout.status == PlzCheckout.Status.COMPLETED
    assert rows(subscriber)[0][:2] == ("10115", "active")
    # Nothing is left to pay, so there is no second Checkout.
    response = client.post(reverse("leads_subscriptions_pay"), follow=True)
    assert "No PLZ is waiting for payment." in response.content.decode()
    assert len(fake_stripe.of_type("checkout.session")) == 1


# --- the Billing Portal ----------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_portal_button_opens_the_stripe_billing_portal(client, fake_stripe, subscriber, pay):  # noqa: F811
    client.force_login(subscriber)
    assert "Manage or cancel in Stripe" not in client.get(reverse("leads_subscriptions")).content.decode()
    pay(subscriber, ["10115"])

    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Manage or cancel in Stripe" in page and reverse("leads_subscriptions_portal") in page

    response = client.post(reverse("leads_subscriptions_portal"))

    (session,) = fake_stripe.of_type("billing_portal.session")
    assert response.status_code == 302 and response["Location"] == session["url"]
    assert session["url"].startswith("https://billing.stripe.com/")
    assert session["customer"] == stripe_gateway.customer_for(user=subscriber).id
    assert session["return_url"] == "http://testserver" + reverse("leads_subscriptions")


@pytest.mark.django_db
def test_portal_without_stripe_says_so_clearly(client, settings, subscriber):
    settings.STRIPE_ENABLED = False
    client.force_login(subscriber)
    response = client.post(reverse("leads_subscriptions_portal"), follow=True)
    assert response.redirect_chain == [(reverse("leads_subscriptions"), 302)]
    assert "Online payment is not connected here" in response.content.decode()
    assert "write to our team" in response.content.decode()


@pytest.mark.django_db
def test_portal_when_stripe_is_down_changes_nothing(client, fake_stripe, subscriber, pay):  # noqa: F811
    pay(subscriber, ["10115"])
    fake_stripe.inject("server_error", "POST", r"/v1/billing_portal/sessions", times=None)
    client.force_login(subscriber)
    response = client.post(reverse("leads_subscriptions_portal"), follow=True)
    assert "Stripe did not answer. Nothing was changed" in response.content.decode()
    assert rows(subscriber)[0][1] == "active"


@pytest.mark.django_db
def test_portal_refuses_get(client, subscriber):
    client.force_login(subscriber)
    assert client.get(reverse("leads_subscriptions_portal")).status_code == 405


# --- the renewal gap -----------------------------------------------------------------------------------------------
END = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def eligible_ids(now: datetime) -> set[int]:
    return set(PlzSubscription.objects.filter(eligible_subscriptions_q(now)).values_list("id", flat=True))


def make(status: str, source: str, end: datetime | None = END) -> PlzSubscription:
    return PlzSubscription.objects.create(
        user=UserFactory(),
        plz="10115",
        status=status,
        source=source,
        current_period_end=end,
        stripe_subscription_id=f"sub_{status}_{source}_{PlzSubscription.objects.count()}"
        if source == "stripe"
        else None,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("offset", "stripe_active", "manual_active"),
    [
        (timedelta(seconds=-1), True, True),  # inside the period: both
        (timedelta(0), True, False),  # period over: manual grants end exactly here
        (timedelta(hours=6) - timedelta(seconds=1), True, False),  # last second of the Stripe grace
        (timedelta(hours=6), False, False),  # grace over
    ],
)
def test_stripe_rows_stay_eligible_for_the_grace_only_while_active(settings, offset, stripe_active, manual_active):
    settings.PLZ_RENEWAL_GRACE_HOURS = 6
    stripe_row = make("active", "stripe")
    manual_row = make("active", "manual")
    never = [make(status, "stripe") for status in ("past_due", "unpaid", "canceled", "pending")]
    never += [make("past_due", "stripe", END + timedelta(days=30))]  # even inside its period
    now = END + offset

    got = eligible_ids(now)

    assert (stripe_row.pk in got, manual_row.pk in got) == (stripe_active, manual_active)
    assert not got & {row.pk for row in never}
    for row in (stripe_row, manual_row, *never):  # the in-memory rule agrees with the query
        assert row.is_eligible(now) == (row.pk in got)


@pytest.mark.django_db
def test_grace_zero_means_the_period_end_is_final(settings):
    settings.PLZ_RENEWAL_GRACE_HOURS = 0
    row = make("active", "stripe")
    assert eligible_ids(END - timedelta(seconds=1)) == {row.pk}
    assert eligible_ids(END) == set()


@pytest.mark.django_db
def test_a_lead_in_the_renewal_gap_still_reaches_the_paying_agent(settings, fake_stripe, subscriber, pay):  # noqa: F811
    """Stripe renewed at the period end, its webhook is late: the agent gets leads for 6 more hours, not after."""
    settings.PLZ_RENEWAL_GRACE_HOURS = 6
    pay(subscriber, ["10115"])
    end = PlzSubscription.objects.get(user=subscriber).current_period_end
    with time_machine.travel(end + timedelta(hours=5, minutes=59), tick=False):
        (in_gap,) = ready_leads("10115", 1)
        assert lead_distribute(lead_id=in_gap.pk) == 1
        assert deliveries_send_due().sent == 1
    with time_machine.travel(end + timedelta(hours=6), tick=False):
        (after,) = ready_leads("10115", 1)
        assert lead_distribute(lead_id=after.pk) == 0  # nobody eligible: not planned
    assert [m.extra_headers["X-JSN-Lead"] for m in mail.outbox] == [str(in_gap.pk)]
    assert Delivery.objects.filter(lead=after).count() == 0
