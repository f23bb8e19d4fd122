"""Planning deliveries: at once for a sole subscriber, a fair first recipient and a 72-hour window for several."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from leads.models import Delivery, Lead, LeadEvent, PlzSubscription
from leads.samples import pdf_from_lines
from leads.services import LeadError, lead_distribute, lead_import_pdf, lead_review_resolve, leads_distribute_ready
from tests.factories import UserFactory
from tests.leads.helpers import ready_leads

pytestmark = pytest.mark.django_db


def test_sole_subscriber_gets_the_lead_at_once(grant):
    sub = grant("10115")
    [lead] = ready_leads("10115", 1)
    now = timezone.now()
    assert lead_distribute(lead_id=lead.pk, now=now) == 1
    delivery = Delivery.objects.get()
    assert (delivery.subscriber_id, delivery.position, delivery.due_at) == (sub.user_id, "first", now)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.DISTRIBUTED


def test_several_subscribers_first_now_others_after_the_window(grant, settings):
    settings.LEAD_EXCLUSIVE_HOURS = 72
    subs = [grant("10115") for _ in range(3)]
    grant("80331")  # another PLZ: not planned
    [lead] = ready_leads("10115", 1)
    now = timezone.now()
    assert lead_distribute(lead_id=lead.pk, now=now) == 3
    rows = {d.subscriber_id: d for d in Delivery.objects.all()}
    assert set(rows) == {s.user_id for s in subs}
    first = [d for d in rows.values() if d.position == "first"]
    assert len(first) == 1 and first[0].due_at == now
    assert all(d.due_at == now + timedelta(hours=72) for d in rows.values() if d.position == "other")


def test_only_active_subscriptions_in_period_are_planned(grant):
    paid = grant("10115")
    expired = grant("10115", period_end=timezone.now() - timedelta(days=1))
    for status in ("pending", "past_due", "unpaid", "canceled"):
        PlzSubscription.objects.create(user=UserFactory(), plz="10115", status=status)
    [lead] = ready_leads("10115", 1)
    lead_distribute(lead_id=lead.pk)
    assert list(Delivery.objects.values_list("subscriber_id", flat=True)) == [paid.user_id]
    assert expired.user_id not in Delivery.objects.values_list("subscriber_id", flat=True)


def test_distributing_twice_plans_once(grant):
    grant("10115")
    grant("10115")
    [lead] = ready_leads("10115", 1)
    assert lead_distribute(lead_id=lead.pk) == 2
    assert lead_distribute(lead_id=lead.pk) == 0
    assert leads_distribute_ready() == 0
    assert Delivery.objects.count() == 2


def test_no_subscriber_marks_the_lead_distributed_to_nobody():
    [lead] = ready_leads("10115", 1)
    assert lead_distribute(lead_id=lead.pk) == 0
    lead.refresh_from_db()
    assert lead.status == Lead.Status.DISTRIBUTED
    assert lead.distributed_at is not None
    assert not Delivery.objects.exists()


def test_rotation_is_fair_over_1000_leads_with_4_subscribers(grant):
    subs = [grant("10115") for _ in range(4)]
    leads = ready_leads("10115", 1000)
    now = timezone.now()  # one instant for all: the rotation must not depend on clock resolution
    for lead in leads:
        lead_distribute(lead_id=lead.pk, now=now)
    firsts = Counter(Delivery.objects.filter(position="first").values_list("subscriber_id", flat=True))
    assert set(firsts) == {s.user_id for s in subs}
    assert all(249 <= n <= 251 for n in firsts.values()), firsts
    assert Delivery.objects.count() == 4000


def test_the_one_who_waited_longest_goes_first_and_a_newcomer_does_not_jump_the_queue(grant):
    a, b, c = (grant("10115") for _ in range(3))
    order = []
    for lead in ready_leads("10115", 3):
        lead_distribute(lead_id=lead.pk)
        order.append(Delivery.objects.get(lead=lead, position="first").subscriber_id)
    assert order == [a.user_id, b.user_id, c.user_id]
    d = grant("10115")
    order = []
    for lead in ready_leads("10115", 4):
        lead_distribute(lead_id=lead.pk)
        order.append(Delivery.objects.get(lead=lead, position="first").subscriber_id)
    # d joined after a, b and c had their turn; a has waited longest since then.
    assert order[0] == a.user_id
    assert sorted(order) == sorted([a.user_id, b.user_id, c.user_id, d.user_id])


def test_staff_resolve_review_releases_the_lead(grant, staff_user):
    sub = grant("80331")
    lead = lead_import_pdf(
        content=pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "80331 München")]), filename="x.pdf"
    ).lead
    assert lead.status == Lead.Status.REVIEW
    lead = lead_review_resolve(actor=staff_user, lead=lead, plz="80331")
    assert (lead.status, lead.plz, lead.reviewed_by) == (Lead.Status.DISTRIBUTED, "80331", staff_user)
    assert Delivery.objects.get().subscriber_id == sub.user_id
    event = LeadEvent.objects.get(action="review_resolved")
    assert event.actor == staff_user and event.detail["candidates"] == ["10115", "80331"]
    with pytest.raises(LeadError):
        lead_review_resolve(actor=staff_user, lead=lead, plz="80331")


def test_review_refuses_an_invalid_plz(staff_user):
    lead = lead_import_pdf(content=pdf_from_lines([(72, 700, "nothing")]), filename="x.pdf").lead
    for bad in ("1234", "123456", "abcde", "١٢٣٤٥"):
        with pytest.raises(ValidationError):
            lead_review_resolve(actor=staff_user, lead=lead, plz=bad)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.REVIEW
