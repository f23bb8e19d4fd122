"""PLZ subscriptions paid through Stripe Checkout: webhooks (real signatures, dj-stripe's view, FakeStripe
answering the re-fetches) keep each PLZ's status in step with Stripe; the daily task re-checks; the agents' page
sends pending PLZs to Checkout."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from billing import stripe_gateway
from leads.models import Delivery, LeadEvent, PlzCheckout, PlzSubscription
from leads.services import (
    deliveries_send_due,
    lead_distribute,
    plz_subscription_sync_from_stripe,
    subscription_request,
)
from leads.tasks import check_subscriptions_task
from tests.factories import UserFactory
from tests.leads.helpers import ready_leads
from tests.stripe.test_webhooks import deliver_event, endpoint  # noqa: F401  (the webhook endpoint fixture)

pytestmark = pytest.mark.django_db
SUBSCRIPTION_GET = r"/v1/subscriptions/sub_\w+"


@pytest.fixture
def plz_price(fake_stripe, settings) -> str:
    settings.STRIPE_PLZ_PRICE_ID = fake_stripe.price_create()["id"]
    return settings.STRIPE_PLZ_PRICE_ID


@pytest.fixture
def pay(fake_stripe, endpoint, plz_price):  # noqa: F811
    """pay(user, ["10115", …]) → the Stripe subscription id, after Checkout and its webhooks were delivered."""

    def run(user, plzs: list[str], *, deliver: bool = True) -> str:
        link = stripe_gateway.checkout_subscription_session_create(
            user=user, plzs=plzs, success_url="https://x/ok", cancel_url="https://x/no"
        )
        completed = fake_stripe.checkout_complete(link.id)
        created = fake_stripe.last_event("customer.subscription.created")
        if deliver:
            assert deliver_event(fake_stripe, endpoint, created).status_code == 200
            assert deliver_event(fake_stripe, endpoint, completed).status_code == 200
        return created["data"]["object"]["id"]

    return run


def rows(user) -> list[tuple[str, str, str, str | None]]:
    return [
        (s.plz, s.status, s.source, s.stripe_subscription_id)
        for s in PlzSubscription.objects.filter(user=user).order_by("plz", "id")
    ]


def synced_events() -> int:
    return LeadEvent.objects.filter(action=LeadEvent.Action.SUBSCRIPTION_STRIPE_SYNCED).count()


def set_status(fake_stripe, endpoint, subscription_id: str, status: str) -> None:  # noqa: F811
    event = fake_stripe.subscription_set_status(subscription_id, status)
    assert deliver_event(fake_stripe, endpoint, event).status_code == 200


# --- created through Checkout ------------------------------------------------------------------------------------
def test_checkout_makes_an_active_subscription_for_each_plz_taking_over_the_requests(subscriber, pay):
    requested = subscription_request(user=subscriber, plz="10115")

    sub_id = pay(subscriber, ["80331", "10115"])

    assert rows(subscriber) == [("10115", "active", "stripe", sub_id), ("80331", "active", "stripe", sub_id)]
    assert PlzSubscription.objects.get(user=subscriber, plz="10115").pk == requested.pk  # the request, not a copy
    end = PlzSubscription.objects.get(user=subscriber, plz="80331").current_period_end
    assert timezone.now() + timedelta(days=29) < end < timezone.now() + timedelta(days=31)
    event = LeadEvent.objects.get(action="subscription_stripe_synced", subscription=requested)
    assert event.detail["previous"]["status"] == "pending"
    assert (event.detail["stripe_status"], event.detail["status"]) == ("active", "active")


def test_repeated_events_and_syncs_change_nothing(fake_stripe, endpoint, subscriber, pay):  # noqa: F811
    sub_id = pay(subscriber, ["10115", "80331"])
    before = rows(subscriber)
    events = synced_events()

    for type_ in ("customer.subscription.created", "checkout.session.completed"):
        assert deliver_event(fake_stripe, endpoint, fake_stripe.last_event(type_)).status_code == 200
    plz_subscription_sync_from_stripe(stripe_subscription_id=sub_id)
    plz_subscription_sync_from_stripe(stripe_subscription_id=sub_id)

    assert rows(subscriber) == before
    assert PlzSubscription.objects.count() == 2
    assert synced_events() == events == 2  # one audit row per PLZ, none for a sync that changed nothing


def test_created_event_alone_is_enough(fake_stripe, endpoint, subscriber, pay):  # noqa: F811
    sub_id = pay(subscriber, ["10115"], deliver=False)
    assert rows(subscriber) == []

    created = fake_stripe.last_event("customer.subscription.created")
    assert deliver_event(fake_stripe, endpoint, created).status_code == 200

    assert rows(subscriber) == [("10115", "active", "stripe", sub_id)]


# --- status changes ----------------------------------------------------------------------------------------------
def test_past_due_stops_deliveries_and_active_restores_them(fake_stripe, endpoint, subscriber, pay):  # noqa: F811
    sub_id = pay(subscriber, ["10115"])
    (lead,) = ready_leads("10115", 1)
    assert lead_distribute(lead_id=lead.pk) == 1  # planned while paid

    set_status(fake_stripe, endpoint, sub_id, "past_due")

    assert rows(subscriber) == [("10115", "past_due", "stripe", sub_id)]
    report = deliveries_send_due()
    assert (report.sent, report.skipped) == (0, 1)
    assert mail.outbox == []
    assert Delivery.objects.get(lead=lead).status == Delivery.Status.SKIPPED

    set_status(fake_stripe, endpoint, sub_id, "active")

    assert rows(subscriber) == [("10115", "active", "stripe", sub_id)]
    (later,) = ready_leads("10115", 1)
    assert lead_distribute(lead_id=later.pk) == 1
    assert deliveries_send_due().sent == 1
    assert [m.to for m in mail.outbox] == [[subscriber.email]]


@pytest.mark.parametrize(
    ("stripe_status", "ours"),
    [
        ("trialing", "active"),
        ("past_due", "past_due"),
        ("unpaid", "unpaid"),
        ("incomplete", "pending"),
        ("canceled", "canceled"),
        ("incomplete_expired", "canceled"),
    ],
)
def test_stripe_status_maps_to_ours(fake_stripe, endpoint, subscriber, pay, stripe_status, ours):  # noqa: F811
    sub_id = pay(subscriber, ["10115"])

    set_status(fake_stripe, endpoint, sub_id, stripe_status)

    assert rows(subscriber) == [("10115", ours, "stripe", sub_id)]


def test_canceled_is_final_and_a_new_checkout_starts_a_new_row(fake_stripe, endpoint, subscriber, pay):  # noqa: F811
    first = pay(subscriber, ["10115"])
    set_status(fake_stripe, endpoint, first, "canceled")
    fake_stripe.objects[first]["status"] = "active"  # a stale read must not reopen it
    plz_subscription_sync_from_stripe(stripe_subscription_id=first)

    second = pay(subscriber, ["10115"])

    assert rows(subscriber) == [("10115", "canceled", "stripe", first), ("10115", "active", "stripe", second)]


def test_a_manual_grant_is_taken_over_by_the_stripe_subscription(subscriber, grant, pay):
    grant("10115", user=subscriber)

    sub_id = pay(subscriber, ["10115"])

    assert rows(subscriber) == [("10115", "active", "stripe", sub_id)]


def test_subscription_without_plz_metadata_is_ignored(fake_stripe, subscriber, pay):
    sub_id = pay(subscriber, ["10115"], deliver=False)
    fake_stripe.objects[sub_id]["metadata"] = {}

    assert plz_subscription_sync_from_stripe(stripe_subscription_id=sub_id) == 0
    assert not PlzSubscription.objects.exists()


# --- the daily re-check ------------------------------------------------------------------------------------------
def test_daily_task_rechecks_each_stripe_subscription_once(fake_stripe, subscriber, other_subscriber, pay, grant):
    mine = pay(subscriber, ["10115", "80331"])
    theirs = pay(other_subscriber, ["50667"])
    grant("20095", user=subscriber)  # manual: not Stripe's business
    fake_stripe.objects[mine]["status"] = "unpaid"  # changed at Stripe, webhook lost
    fake_stripe.objects[theirs]["status"] = "canceled"
    reads_before = len(fake_stripe.requests("GET", SUBSCRIPTION_GET))

    result = check_subscriptions_task()

    assert result == {"expired": 0, "stripe_checked": 2, "stripe_failed": 0, "stripe_not_checked": 0}
    reads = fake_stripe.requests("GET", SUBSCRIPTION_GET)[reads_before:]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in reads) == sorted([mine, theirs])
    assert rows(subscriber) == [
        ("10115", "unpaid", "stripe", mine),
        ("20095", "active", "manual", None),
        ("80331", "unpaid", "stripe", mine),
    ]
    assert rows(other_subscriber) == [("50667", "canceled", "stripe", theirs)]

    # Canceled ones are final: the next run does not ask Stripe about them again.
    check_subscriptions_task()
    reads = fake_stripe.requests("GET", SUBSCRIPTION_GET)[reads_before + 2 :]
    assert [r.path.rsplit("/", 1)[-1] for r in reads] == [mine]


def test_daily_task_survives_stripe_failures(fake_stripe, subscriber, pay):
    pay(subscriber, ["10115"])
    fake_stripe.inject("server_error", "GET", SUBSCRIPTION_GET, times=None)

    assert check_subscriptions_task() == {
        "expired": 0,
        "stripe_checked": 0,
        "stripe_failed": 1,
        "stripe_not_checked": 0,
    }
    assert rows(subscriber)[0][1] == "active"


def test_daily_task_stops_when_stripe_keeps_not_answering(fake_stripe, subscriber, other_subscriber, pay):
    users = [subscriber, other_subscriber, *(UserFactory() for _ in range(3))]
    for n, user in enumerate(users):
        pay(user, [f"1011{n}"])
    reads_before = len(fake_stripe.requests("GET", SUBSCRIPTION_GET))
    fake_stripe.inject("connection_drop", "GET", SUBSCRIPTION_GET, times=None)

    result = check_subscriptions_task()

    # Three silent subscriptions in a row (each with the SDK's three attempts), then the run stops.
    assert result == {"expired": 0, "stripe_checked": 0, "stripe_failed": 3, "stripe_not_checked": 2}
    assert len(fake_stripe.requests("GET", SUBSCRIPTION_GET)) - reads_before == 3 * 3
    assert {status for _, status, *_ in rows(subscriber)} == {"active"}


def test_daily_task_without_stripe_only_expires(settings, grant, subscriber):
    settings.STRIPE_ENABLED = False
    grant("10115", user=subscriber)
    assert check_subscriptions_task() == {
        "expired": 0,
        "stripe_checked": 0,
        "stripe_failed": 0,
        "stripe_not_checked": 0,
    }


# --- the agents' page --------------------------------------------------------------------------------------------
def test_page_without_stripe_has_no_pay_button_and_pay_is_refused(client, settings, subscriber):
    settings.STRIPE_ENABLED = False
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)

    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Pay with Stripe" not in page
    assert "Online payment is not connected here" in page

    response = client.post(reverse("leads_subscriptions_pay"))
    assert response.status_code == 302 and response["Location"] == reverse("leads_subscriptions")


def test_page_with_stripe_shows_the_button_and_pay_redirects_to_checkout(client, fake_stripe, plz_price, subscriber):
    client.force_login(subscriber)
    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Pay with Stripe" not in page  # nothing awaits payment yet

    subscription_request(user=subscriber, plz="80331")
    subscription_request(user=subscriber, plz="10115")
    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Pay with Stripe" in page and reverse("leads_subscriptions_pay") in page
    assert "Online payment is not connected here" not in page

    response = client.post(reverse("leads_subscriptions_pay"))

    (session,) = fake_stripe.of_type("checkout.session")
    assert response.status_code == 302
    assert response["Location"] == session["url"] and session["url"].startswith("https://checkout.stripe.com/")
    assert session["mode"] == "subscription"
    assert session["_subscription_data"]["metadata"]["jsn_plzs"] == "10115,80331"
    assert session["_subscription_data"]["metadata"]["jsn_user_id"] == str(subscriber.pk)
    assert session["success_url"].endswith(reverse("leads_subscriptions") + "?paid=1")
    assert rows(subscriber) == [("10115", "pending", "stripe", None), ("80331", "pending", "stripe", None)]


def test_pay_only_covers_my_pending_plzs_and_requires_current_terms(client, fake_stripe, plz_price, subscriber):
    subscription_request(user=subscriber, plz="10115")
    subscription_request(user=UserFactory(), plz="80331")
    client.force_login(subscriber)

    client.post(reverse("leads_subscriptions_pay"), {"plz": ["10115", "80331"]})
    (session,) = fake_stripe.of_type("checkout.session")
    assert session["_subscription_data"]["metadata"]["jsn_plzs"] == "10115"

    subscriber.terms_version = ""
    subscriber.save(update_fields=["terms_version"])
    response = client.post(reverse("leads_subscriptions_pay"))
    assert response.status_code == 302 and response["Location"] == reverse("leads_subscriptions")
    assert len(fake_stripe.of_type("checkout.session")) == 1


def test_pay_with_nothing_pending_or_stripe_down_stays_on_the_page(client, fake_stripe, plz_price, subscriber):
    client.force_login(subscriber)
    response = client.post(reverse("leads_subscriptions_pay"), follow=True)
    assert "No PLZ is waiting for payment." in response.content.decode()

    subscription_request(user=subscriber, plz="10115")
    fake_stripe.inject("server_error", "POST", "/v1/checkout/sessions", times=None)
    response = client.post(reverse("leads_subscriptions_pay"), follow=True)
    assert "Stripe did not answer" in response.content.decode()
    assert rows(subscriber) == [("10115", "pending", "stripe", None)]


def test_closing_an_account_cancels_its_stripe_subscription(subscriber, pay, fake_stripe):
    from accounts.services import account_close

    sub_id = pay(subscriber, ["10115"])
    account_close(user=subscriber)
    assert [r.path for r in fake_stripe.requests("DELETE")] == [f"/v1/subscriptions/{sub_id}"]
    assert PlzSubscription.objects.get(stripe_subscription_id=sub_id).status == PlzSubscription.Status.CANCELED


# --- withdrawing a PLZ while its Checkout is open ----------------------------------------------------------------
def _withdraw(client, user, plz: str):
    sub = PlzSubscription.objects.get(user=user, plz=plz, status=PlzSubscription.Status.PENDING)
    return client.post(reverse("leads_subscription_withdraw", args=[sub.pk]), follow=True)


@pytest.mark.usefixtures("plz_price")
def test_withdrawing_a_plz_closes_the_checkout_that_would_charge_for_it(client, fake_stripe, endpoint, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    subscription_request(user=subscriber, plz="80331")
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions_pay"))
    (old,) = fake_stripe.of_type("checkout.session")

    response = _withdraw(client, subscriber, "10115")

    assert "Withdrawn: 10115" in response.content.decode()
    # The tab still showing Stripe's page for 10115 + 80331 can no longer take the money.
    assert fake_stripe.get(old["id"])["status"] == "expired"
    expired = fake_stripe.last_event("checkout.session.expired")
    assert expired["data"]["object"]["id"] == old["id"]
    assert deliver_event(fake_stripe, endpoint, expired).status_code == 200
    assert PlzCheckout.objects.get(stripe_session_id=old["id"]).status == PlzCheckout.Status.SUPERSEDED
    # Paying again is for what is still requested, in a new session rather than the closed one.
    response = client.post(reverse("leads_subscriptions_pay"))
    new = fake_stripe.of_type("checkout.session")[-1]
    assert new["id"] != old["id"] and response["Location"] == new["url"]
    assert new["_subscription_data"]["metadata"]["jsn_plzs"] == "80331"


def test_withdrawing_leaves_other_plz_sets_checkouts_open(client, fake_stripe, plz_price, subscriber):
    subscription_request(user=subscriber, plz="80331")
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions_pay"))
    (only_80331,) = fake_stripe.of_type("checkout.session")
    subscription_request(user=subscriber, plz="10115")

    _withdraw(client, subscriber, "10115")

    assert fake_stripe.get(only_80331["id"])["status"] == "open"
    assert not fake_stripe.requests("POST", r"/v1/checkout/sessions/\w+/expire")


@pytest.mark.usefixtures("plz_price")
def test_withdrawal_stands_when_stripe_cannot_close_checkout(client, fake_stripe, endpoint, subscriber, caplog):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions_pay"))
    (session,) = fake_stripe.of_type("checkout.session")
    fake_stripe.inject("server_error", "POST", r"/v1/checkout/sessions/\w+/expire", times=None)

    response = _withdraw(client, subscriber, "10115")

    assert "Withdrawn: 10115" in response.content.decode()
    assert rows(subscriber) == [("10115", "canceled", "stripe", None)]
    assert f"Could not expire Checkout session {session['id']}" in caplog.text
    # Paid in the tab left open after all: whoever pays gets the PLZ they paid for.
    fake_stripe.checkout_complete(session["id"])
    created = fake_stripe.last_event("customer.subscription.created")
    assert deliver_event(fake_stripe, endpoint, created).status_code == 200
    sub_id = created["data"]["object"]["id"]
    assert rows(subscriber) == [("10115", "canceled", "stripe", None), ("10115", "active", "stripe", sub_id)]


def test_checkout_paid_just_before_withdrawal_becomes_active(client, fake_stripe, endpoint, plz_price, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions_pay"))
    (session,) = fake_stripe.of_type("checkout.session")
    fake_stripe.checkout_complete(session["id"])  # paid; its webhooks are still on the way

    response = _withdraw(client, subscriber, "10115")

    page = response.content.decode()
    assert "Stripe had already taken your payment for 10115 before the withdrawal" in page
    assert "nothing is due for it" not in page
    assert fake_stripe.get(session["id"])["status"] == "complete"  # Stripe refused to expire it; nothing changed
    created = fake_stripe.last_event("customer.subscription.created")
    assert deliver_event(fake_stripe, endpoint, created).status_code == 200
    assert PlzSubscription.objects.get(user=subscriber, status="active").plz == "10115"


@pytest.mark.usefixtures("plz_price")
def test_a_checkout_expired_at_stripe_is_not_offered_again(client, fake_stripe, endpoint, subscriber):  # noqa: F811
    subscription_request(user=subscriber, plz="10115")
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions_pay"))
    (old,) = fake_stripe.of_type("checkout.session")
    assert client.post(reverse("leads_subscriptions_pay"))["Location"] == old["url"]  # a second click: the same page

    assert stripe_gateway.checkout_session_expire(session_id=old["id"]) == "expired"  # e.g. in Stripe's Dashboard
    assert deliver_event(fake_stripe, endpoint, fake_stripe.last_event("checkout.session.expired")).status_code == 200

    assert PlzCheckout.objects.get(stripe_session_id=old["id"]).status == PlzCheckout.Status.SUPERSEDED
    response = client.post(reverse("leads_subscriptions_pay"))
    new = fake_stripe.of_type("checkout.session")[-1]
    assert new["id"] != old["id"] and response["Location"] == new["url"]
    assert stripe_gateway.checkout_session_expire(session_id=old["id"]) == "expired"  # again: not an error
