"""Agent pages and API: own subscriptions and leads only, signed expiring downloads, logged."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from leads.models import Delivery, LeadEvent, PlzSubscription
from leads.samples import lead_pdf
from leads.services import deliveries_send_due, lead_download_token, lead_import_pdf, subscription_request
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def two_agents(grant, subscriber, other_subscriber):
    grant("10115", user=subscriber)
    grant("10115", user=other_subscriber)
    with time_machine.travel(T0, tick=False):
        lead = lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="P1"), filename="p.pdf").lead
        deliveries_send_due()
    first = Delivery.objects.get(lead=lead, position="first")
    later = Delivery.objects.get(lead=lead, position="other")
    return first, later


def test_add_plz_creates_a_pending_subscription(client, subscriber):
    client.force_login(subscriber)
    response = client.post(reverse("leads_subscriptions"), {"plz": "10115, 80331 123"}, follow=True)
    assert response.status_code == 200
    subs = PlzSubscription.objects.filter(user=subscriber).order_by("plz")
    assert [(s.plz, s.status) for s in subs] == [("10115", "pending"), ("80331", "pending")]
    page = response.content.decode()
    assert "Awaiting payment" in page and "Not a German PLZ (five digits, 01001–99999): 123" in page
    assert "Online payment is not connected here" in page
    # Asking again does not create a second one.
    client.post(reverse("leads_subscriptions"), {"plz": "10115"})
    assert PlzSubscription.objects.filter(user=subscriber, plz="10115").count() == 1


def test_asking_for_a_plz_already_held_says_so_instead_of_awaiting_payment(client, grant, subscriber):
    grant("10115", user=subscriber)
    client.force_login(subscriber)

    response = client.post(reverse("leads_subscriptions"), {"plz": "10115 80331"}, follow=True)

    page = response.content.decode()
    assert "Already subscribed: 10115 — nothing to pay now." in page
    assert "Requested: 80331 — awaiting payment." in page and "Requested: 10115" not in page
    assert PlzSubscription.objects.get(user=subscriber, plz="10115").status == "active"


def test_a_plz_outside_01001_to_99999_is_refused_as_the_message_says(client, subscriber):
    client.force_login(subscriber)

    response = client.post(reverse("leads_subscriptions"), {"plz": "00000 01000 01001 99999 01067"}, follow=True)

    page = response.content.decode()
    assert "Not a German PLZ (five digits, 01001–99999): 00000, 01000" in page
    subscribed = sorted(s.plz for s in PlzSubscription.objects.filter(user=subscriber))
    assert subscribed == ["01001", "01067", "99999"]


def test_add_plz_requires_current_terms(client):
    user = UserFactory(terms_version="", terms_accepted_at=None)
    client.force_login(user)
    client.post(reverse("leads_subscriptions"), {"plz": "10115"})
    assert not PlzSubscription.objects.filter(user=user).exists()
    client.post(reverse("leads_subscriptions"), {"plz": "10115", "accept_terms": "on"})
    assert PlzSubscription.objects.filter(user=user, plz="10115").exists()
    user.refresh_from_db()
    assert user.terms_accepted_at is not None


def test_received_and_queued_pages_show_only_my_leads(client, two_agents, subscriber, other_subscriber):
    first, later = two_agents
    me = subscriber if first.subscriber == subscriber else other_subscriber
    client.force_login(me)
    page = client.get(reverse("leads_received")).content.decode()
    assert f"#{first.lead_id}" in page and "/leads/download/" in page
    client.force_login(later.subscriber)
    response = client.get(reverse("leads_received"))
    page = response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert "Coming to you" in page and "2026-03-05 08:00" in page  # expected after the 72-hour window
    assert "/leads/download/" not in page


def test_download_link_is_bound_to_the_user_expires_and_is_logged(client, two_agents):
    first, later = two_agents
    token = lead_download_token(delivery=first)
    url = reverse("leads_download", args=[token])
    client.force_login(first.subscriber)
    response = client.get(url, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == f'attachment; filename="lead-{first.lead_id}.pdf"'
    event = LeadEvent.objects.get(action="downloaded")
    assert (event.actor, event.delivery_id, event.detail["ip"]) == (first.subscriber, first.pk, "10.1.2.3")

    client.force_login(later.subscriber)  # another agent with the same link
    assert client.get(url).status_code == 403
    client.force_login(first.subscriber)
    assert client.get(reverse("leads_download", args=[token[:-2] + "xx"])).status_code == 404  # as case documents
    with time_machine.travel(datetime.now(UTC) + timedelta(hours=1, minutes=1)):
        response = client.get(url)
    assert response.status_code == 410 and "expired" in response.content.decode()
    # Not yet sent to the other agent: a link for that delivery is refused too.
    client.force_login(later.subscriber)
    assert client.get(reverse("leads_download", args=[lead_download_token(delivery=later)])).status_code == 403
    assert LeadEvent.objects.filter(action="download_refused").count() == 4


def test_anonymous_is_sent_to_login(client):
    for name in ("leads_subscriptions", "leads_received"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login" in response["Location"]


def test_api_lists_only_my_subscriptions_and_deliveries(api_client, two_agents, subscriber, django_assert_num_queries):
    PlzSubscription.objects.create(user=UserFactory(), plz="99999", status="active")
    api_client.force_authenticate(subscriber)
    with django_assert_num_queries(1):  # the subscriptions
        data = api_client.get("/api/v3/leads/subscriptions").json()
    assert [(r["plz"], r["status"], r["source"]) for r in data["results"]] == [("10115", "active", "manual")]
    with django_assert_num_queries(1):  # deliveries joined with their lead
        data = api_client.get("/api/v3/leads/deliveries").json()
    [row] = data["results"]
    assert row["plz"] == "10115" and row["status"] in ("sent", "planned")
    assert set(row) == {"id", "lead_id", "plz", "received_at", "position", "status", "due_at", "sent_at"}


def test_api_refuses_anonymous(api_client):
    assert api_client.get("/api/v3/leads/deliveries").status_code == 401


def test_leads_per_plz_this_month_so_far_and_last_month(client, grant, subscriber):
    grant("10115", user=subscriber)
    with time_machine.travel(datetime(2026, 2, 10, tzinfo=UTC), tick=False):
        for i in range(3):
            lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref=f"F{i}"), filename="f.pdf")
        deliveries_send_due()
    with time_machine.travel(datetime(2026, 3, 3, tzinfo=UTC), tick=False):
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="M1"), filename="m.pdf")
        client.force_login(subscriber)
        page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "March 2026 so far" in page and "February 2026</th>" in page
    # March: one lead, not sent yet (the send job has not run); February: three, all received.
    assert "<td>10115</td><td>1</td><td>0</td><td>3</td><td>3</td>" in page


def test_downloads_are_rate_limited_per_user(client, two_agents, settings):
    settings.DOCUMENT_RATE_LIMIT_PER_HOUR = 2
    first, _later = two_agents
    client.force_login(first.subscriber)
    url = reverse("leads_download", args=[lead_download_token(delivery=first)])
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 429]


def test_plzs_split_on_semicolons_and_a_repeated_plz_counts_once(client, subscriber):
    client.force_login(subscriber)
    response = client.post(reverse("leads_subscriptions"), {"plz": "10115;80331; 20095\n10115"}, follow=True)
    assert "Requested: 10115, 80331, 20095 — awaiting payment." in response.content.decode()
    # 20 different PLZs, one of them pasted twice: within the limit of 20.
    plzs = [f"{10115 + i}" for i in range(20)]
    response = client.post(reverse("leads_subscriptions"), {"plz": " ".join([*plzs, plzs[0]])}, follow=True)
    assert "Enter between 1 and 20" not in response.content.decode()
    assert PlzSubscription.objects.filter(user=subscriber).count() == 22  # 3 + 19 new (10115 asked for before)
    response = client.post(reverse("leads_subscriptions"), {"plz": " ".join(f"{30000 + i}" for i in range(21))})
    assert PlzSubscription.objects.filter(user=subscriber).count() == 22
    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Enter between 1 and 20 five-digit PLZs." in page


def test_an_agent_withdraws_a_request_still_awaiting_payment(client, subscriber, other_subscriber, grant):
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions"), {"plz": "10115 80331"})
    pending = PlzSubscription.objects.get(user=subscriber, plz="10115")
    page = client.get(reverse("leads_subscriptions")).content.decode()
    withdraw_url = reverse("leads_subscription_withdraw", args=[pending.pk])
    assert f'action="{withdraw_url}"' in page and 'aria-label="Withdraw the request for 10115"' in page

    response = client.post(withdraw_url, follow=True)
    page = response.content.decode()
    assert "Withdrawn: 10115 — nothing is due for it" in page
    pending.refresh_from_db()
    assert pending.status == PlzSubscription.Status.CANCELED
    event = LeadEvent.objects.get(action="subscription_ended", subscription=pending)
    assert event.actor == subscriber and event.detail["withdrawn_by_agent"] is True
    assert f'action="{withdraw_url}"' not in page  # 80331 still offers its own button, 10115 none
    # Asking for it again later is a fresh request.
    client.post(reverse("leads_subscriptions"), {"plz": "10115"})
    assert PlzSubscription.objects.get(user=subscriber, plz="10115", status="pending").pk != pending.pk


def test_withdraw_refuses_paid_granted_and_other_agents_subscriptions(client, subscriber, other_subscriber, grant):
    granted = grant("20095", user=subscriber)
    paid = PlzSubscription.objects.create(
        user=subscriber, plz="20097", status="pending", source="stripe", stripe_subscription_id="sub_paid"
    )
    theirs = PlzSubscription.objects.create(user=other_subscriber, plz="10115", status="pending", source="stripe")
    client.force_login(subscriber)
    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Withdraw" not in page
    for sub in (granted, paid, theirs):
        response = client.post(reverse("leads_subscription_withdraw", args=[sub.pk]), follow=True)
        assert response.status_code == 200
        assert "Only a PLZ still awaiting payment can be withdrawn here" in response.content.decode()
        before = sub.status
        sub.refresh_from_db()
        assert sub.status == before
    assert client.post(reverse("leads_subscription_withdraw", args=[999999])).status_code == 302
    assert client.get(reverse("leads_subscription_withdraw", args=[theirs.pk])).status_code == 405


def _table_rows(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", " ", row).split()[0] for row in re.findall(r"<tr><td>(.*?)</tr>", html, re.S)]


def test_ended_subscriptions_are_listed_apart_from_the_current_ones(client, subscriber, grant):
    client.force_login(subscriber)
    client.post(reverse("leads_subscriptions"), {"plz": "10115 80331"})
    grant("20095", user=subscriber)
    withdrawn = PlzSubscription.objects.get(user=subscriber, plz="10115")
    client.post(reverse("leads_subscription_withdraw", args=[withdrawn.pk]))

    page = client.get(reverse("leads_subscriptions")).content.decode()

    current, _, rest = page.partition("<details")
    current = current.split("<thead><tr><th>PLZ</th><th>Status</th>", 1)[1].split("</table>", 1)[0]
    assert sorted(_table_rows(current)) == ["20095", "80331"]
    ended = rest.split("</details>", 1)[0]
    assert "Ended subscriptions (1)" in ended
    assert _table_rows(ended) == ["10115"]
    # Asked for again: current once more, the withdrawn request stays in the ended list.
    client.post(reverse("leads_subscriptions"), {"plz": "10115"})
    page = client.get(reverse("leads_subscriptions")).content.decode()
    current, _, rest = page.partition("<details")
    assert "<strong>10115</strong>" in current and "Ended subscriptions (1)" in rest


def test_no_ended_list_until_something_ended(client, subscriber, grant):
    grant("20095", user=subscriber)
    client.force_login(subscriber)
    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Ended subscriptions" not in page and "<strong>20095</strong>" in page


def test_leads_per_plz_keeps_an_ended_plz_only_while_it_brought_the_agent_leads(client, grant, subscriber):
    from leads.services import subscription_end

    paid_for = grant("10115", user=subscriber)
    with time_machine.travel(datetime(2026, 2, 10, tzinfo=UTC), tick=False):
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="F1"), filename="f.pdf")
        deliveries_send_due()
    subscription_end(actor=subscriber, subscription=paid_for)
    never_paid = PlzSubscription.objects.create(user=subscriber, plz="80331", status="pending", source="stripe")
    subscription_end(actor=subscriber, subscription=never_paid)
    with time_machine.travel(datetime(2026, 3, 3, tzinfo=UTC), tick=False):
        client.force_login(subscriber)
        page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "<td>10115</td><td>0</td><td>0</td><td>1</td><td>1</td>" in page  # received in February
    assert "<td>80331</td>" not in page.split("Leads per PLZ", 1)[1]  # ended, never brought anything
    with time_machine.travel(datetime(2026, 5, 3, tzinfo=UTC), tick=False):
        client.force_login(subscriber)  # the March session has run out by May
        page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Subscribe to a PLZ to see its figures." in page  # February is no longer one of the two months shown


def test_the_ended_list_shows_the_latest_twenty(client, subscriber):
    for i in range(21):
        sub = PlzSubscription.objects.create(user=subscriber, plz=f"{10115 + i}", status="canceled", source="stripe")
        PlzSubscription.objects.filter(pk=sub.pk).update(updated_at=T0 + timedelta(days=i))
    client.force_login(subscriber)
    page = client.get(reverse("leads_subscriptions")).content.decode()
    ended = page.partition("<details")[2].split("</details>", 1)[0]
    assert "Ended subscriptions (the latest 20)" in ended
    assert _table_rows(ended) == [f"{10115 + i}" for i in range(20, 0, -1)]  # newest first; the oldest not shown
    PlzSubscription.objects.filter(plz="10115").delete()
    page = client.get(reverse("leads_subscriptions")).content.decode()
    assert "Ended subscriptions (20)" in page


def test_the_ended_date_is_when_it_ended_not_the_rows_last_edit(client, subscriber):
    with time_machine.travel(T0, tick=False):
        sub = subscription_request(user=subscriber, plz="10115")
        client.force_login(subscriber)
        client.post(reverse("leads_subscription_withdraw", args=[sub.pk]))
    PlzSubscription.objects.filter(pk=sub.pk).update(updated_at=T0 + timedelta(days=40))  # e.g. a staff edit later
    client.force_login(subscriber)
    ended = client.get(reverse("leads_subscriptions")).content.decode().partition("<details")[2]
    assert "<td>10115</td><td>2026-03-02</td><td>2026-03-02</td>" in ended


def test_a_validly_signed_link_that_is_not_ours_is_refused_not_a_crash(client, subscriber):
    from django.core import signing

    from leads.services import DOWNLOAD_SALT

    client.force_login(subscriber)
    for payload in (["d", 1], "x", 7):
        token = signing.dumps(payload, salt=DOWNLOAD_SALT)
        response = client.get(reverse("leads_download", args=[token]))
        assert response.status_code == 404 and "This download link is invalid." in response.content.decode()
