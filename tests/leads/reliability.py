"""RELIABILITY.md L2 and L3 as runners with a size: a smaller run in `make test`, the full one marked `stress`.

- L2: many leads × many subscribers over simulated hourly ticks, two overlapping send runs per tick, a share of the
  subscribers turning unpaid midway. 0 duplicate (lead, subscriber); 0 sends to the unpaid from that moment; every
  eligible pair sent within its window.
- L3: the real sending job (the Celery task function) in a child process, SIGKILLed at the e-mail send again and
  again and re-run after each kill. 0 duplicates; every killed send left for staff as ambiguous, never re-sent.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import time_machine
from django.db import connection, connections

from accounts.models import User
from leads.models import Delivery, Lead, PlzSubscription
from leads.samples import lead_pdf
from leads.services import (
    DUE_STATUSES,
    SEND_LEASE,
    deliveries_ambiguous_count,
    deliveries_send_due,
    delivery_confirm_sent,
    delivery_resend,
    lead_import_pdf,
    leads_distribute_ready,
    subscription_grant,
)
from leads.tasks import send_due_deliveries_task
from tests.factories import UserFactory
from tests.leads.backends import BlockingSpoolBackend, outbox_pairs, spool_pairs
from tests.leads.helpers import ready_leads

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TICK = timedelta(hours=1)


# --- L2 ------------------------------------------------------------------------------------------------------------
@dataclass
class L2Figures:
    leads: int
    subscribers: int
    subscriptions: int
    unpaid: int
    deliveries: int
    sent: int
    skipped: int
    ticks: int
    seconds: float
    sends_per_second: float


def run_l2(
    *,
    staff_user: User,
    leads: int,
    subscribers: int,
    plzs: int = 10,
    arrival_ticks: int = 50,
    unpaid_share: float = 0.1,
    runs_per_tick: int = 2,
    batch: int = 40,
    seed: int = 7,
) -> L2Figures:
    """Run L2 at this size and assert its pass criteria; returns the figures. Needs django_db(transaction=True)."""
    assert leads % arrival_ticks == 0, "leads arrive evenly over the arrival ticks"
    started = time.monotonic()
    rng = random.Random(seed)
    codes = [f"{10115 + 1000 * i}" for i in range(plzs)]
    users = [UserFactory() for _ in range(subscribers)]
    for i, user in enumerate(users):
        # Every fifth subscriber holds a second PLZ: one lead never reaches a person twice through two PLZs.
        for plz in {codes[i % plzs], codes[(i * 3 + 1) % plzs] if i % 5 == 0 else codes[i % plzs]}:
            subscription_grant(actor=staff_user, user=user, plz=plz)
    unpaid_users = set(rng.sample([u.pk for u in users], round(subscribers * unpaid_share)))
    unpaid_at = T0 + (arrival_ticks * 3 // 5) * TICK  # midway through the arrivals
    per_tick = leads // arrival_ticks
    errors: list[BaseException] = []

    def send_run() -> None:
        try:
            while deliveries_send_due(batch=batch).sent:
                pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    ticks = arrival_ticks + 72 + 2
    with time_machine.travel(T0, tick=False) as clock:
        for n in range(ticks):
            now = T0 + n * TICK
            clock.move_to(now)
            if n < arrival_ticks:
                for k in range(per_tick):
                    plz = codes[(per_tick * n + k) % plzs]
                    lead_import_pdf(content=lead_pdf(plz=plz, city="Stadt", ref=f"L2-{n}-{k}"), filename="l.pdf")
            if now == unpaid_at:
                PlzSubscription.objects.filter(user_id__in=unpaid_users).update(status=PlzSubscription.Status.UNPAID)
            threads = [threading.Thread(target=send_run) for _ in range(runs_per_tick)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
    assert errors == []
    assert Lead.objects.count() == leads
    pairs = outbox_pairs()
    assert len(pairs) == len(set(pairs)), "a lead reached a subscriber twice"
    emails = {u.pk: u.email for u in users}
    deliveries = list(Delivery.objects.select_related("lead"))
    subscriptions = PlzSubscription.objects.count()
    # Every lead was planned for exactly the subscribers of its PLZ who were paid when it arrived.
    holders: dict[str, set[int]] = defaultdict(set)
    for user_id, plz in PlzSubscription.objects.values_list("user_id", "plz"):
        holders[plz].add(user_id)
    planned: dict[int, set[int]] = defaultdict(set)
    for d in deliveries:
        planned[d.lead_id].add(d.subscriber_id)
    for lead in Lead.objects.all():
        paid = {u for u in holders[lead.plz] if u not in unpaid_users or lead.received_at <= unpaid_at}
        assert planned[lead.pk] == paid, lead
    sent_pairs = set()
    skipped = 0
    for d in deliveries:
        if d.subscriber_id in unpaid_users and d.due_at >= unpaid_at:
            assert d.status == Delivery.Status.SKIPPED, d
            skipped += 1
            continue
        assert d.status == Delivery.Status.SENT, d
        # Within its window: first at once (same tick), the others when the 72 hours are over (same tick).
        assert d.due_at <= d.sent_at < d.due_at + TICK
        expected_due = d.lead.received_at + (timedelta(0) if d.position == "first" else timedelta(hours=72))
        assert d.due_at == expected_due
        sent_pairs.add((str(d.lead_id), emails[d.subscriber_id]))
    assert set(pairs) == sent_pairs
    late_to_unpaid = [d for d in deliveries if d.subscriber_id in unpaid_users and d.sent_at and d.sent_at >= unpaid_at]
    assert late_to_unpaid == []
    assert skipped > 0  # the unpaid really had deliveries planned after that moment
    seconds = time.monotonic() - started
    return L2Figures(
        leads=leads,
        subscribers=subscribers,
        subscriptions=subscriptions,
        unpaid=len(unpaid_users),
        deliveries=len(deliveries),
        sent=len(pairs),
        skipped=skipped,
        ticks=ticks,
        seconds=round(seconds, 1),
        sends_per_second=round(len(pairs) / seconds, 1),
    )


# --- L3 ------------------------------------------------------------------------------------------------------------
@dataclass
class L3Figures:
    kills: int
    killed_after_accept: int
    runs: int
    deliveries: int
    ambiguous: int
    confirmed_by_staff: int
    resent_by_staff: int
    seconds: float


def _send_job_child(now: str, block_at: int, accept_first: bool, spool_dir: str, reached) -> None:
    """The child process: one run of the real sending job (the Celery task's function) at simulated time `now`."""
    BlockingSpoolBackend.spool_dir = spool_dir
    BlockingSpoolBackend.block_at = block_at
    BlockingSpoolBackend.accept_before_block = accept_first
    BlockingSpoolBackend.reached = reached
    BlockingSpoolBackend._count = 0
    with time_machine.travel(datetime.fromisoformat(now), tick=False):
        send_due_deliveries_task()


def _run_child(*, now: datetime, block_at: int, accept_first: bool, spool_dir: str) -> bool:
    """Run the job in a forked child; SIGKILL it when it blocks at the send. True: it was killed there."""
    ctx = multiprocessing.get_context("fork")
    reached = ctx.Event()
    # The child must open its own database connection: a forked copy of ours would share the socket.
    connections.close_all()
    child = ctx.Process(
        target=_send_job_child, args=(now.isoformat(), block_at, accept_first, spool_dir, reached), daemon=True
    )
    child.start()
    deadline = time.monotonic() + 120
    while not reached.wait(0.01):
        if not child.is_alive() or time.monotonic() > deadline:
            break
    if reached.is_set():
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        assert child.exitcode == -signal.SIGKILL, child.exitcode
        return True
    child.join(120)
    assert child.exitcode == 0, f"the send job failed in the child (exit code {child.exitcode})"
    return False


def run_l3(*, staff_user: User, kills: int, spool_dir: str, subscribers: int = 6, seed: int = 3) -> L3Figures:
    """Run L3 with this many kills and assert its pass criteria; returns the figures.

    Each run blocks at its 1st, 2nd or 3rd send, alternately after the provider accepted the message (the worst
    case: it went out, our database cannot know) and before. Needs django_db(transaction=True) and PostgreSQL.
    """
    started = time.monotonic()
    rng = random.Random(seed)
    users = [UserFactory() for _ in range(subscribers)]
    for user in users:
        subscription_grant(actor=staff_user, user=user, plz="10115")
    n_leads = -(-(3 * kills + 10) // subscribers)  # enough sends for every kill
    ready_leads("10115", n_leads, received_at=T0)
    assert leads_distribute_ready(now=T0) == n_leads * subscribers
    total = n_leads * subscribers

    now = T0 + timedelta(hours=72, minutes=1)  # everything is due
    done = runs = after_accept = 0
    while done < kills:
        runs += 1
        accept_first = done % 2 == 0
        if _run_child(now=now, block_at=rng.randint(1, 3), accept_first=accept_first, spool_dir=spool_dir):
            done += 1
            after_accept += accept_first
        else:
            assert Delivery.objects.filter(status__in=DUE_STATUSES).exists(), f"ran out of deliveries at {done}"
        now += SEND_LEASE + timedelta(minutes=1)  # the killed run's lease has expired: the rest is picked up
        pairs = spool_pairs(spool_dir)
        assert len(pairs) == len(set(pairs)), f"duplicate send after kill {done}"

    # Later runs finish the rest and never touch what a killed run left in `sending`.
    for _ in range(2):
        runs += 1
        assert not _run_child(now=now, block_at=0, accept_first=True, spool_dir=spool_dir)
        now += timedelta(minutes=6)
    pairs = spool_pairs(spool_dir)
    assert len(pairs) == len(set(pairs)), "a lead reached a subscriber twice"
    assert Delivery.objects.filter(status__in=DUE_STATUSES).count() == 0
    ambiguous = list(Delivery.objects.filter(status=Delivery.Status.SENDING).select_related("subscriber"))
    assert len(ambiguous) == kills  # each kill left exactly its one send, and nothing else, for staff
    assert deliveries_ambiguous_count(now=now) == kills
    assert Delivery.objects.filter(status=Delivery.Status.SENT).count() == total - kills
    accepted = Counter(pairs)
    in_provider_log = [d for d in ambiguous if accepted[(str(d.lead_id), d.subscriber.email)]]
    assert len(in_provider_log) == after_accept

    # Staff check the provider's log: confirm what went out, re-send what did not. Then all went out exactly once.
    for delivery in ambiguous:
        if delivery in in_provider_log:
            delivery_confirm_sent(actor=staff_user, delivery=delivery, now=now)
        else:
            delivery_resend(actor=staff_user, delivery=delivery, now=now)
    runs += 1
    assert not _run_child(now=now + timedelta(minutes=1), block_at=0, accept_first=True, spool_dir=spool_dir)
    pairs = spool_pairs(spool_dir)
    expected = {(str(d.lead_id), d.subscriber.email) for d in Delivery.objects.select_related("subscriber")}
    assert sorted(pairs) == sorted(expected)  # every pair exactly once
    assert Delivery.objects.exclude(status=Delivery.Status.SENT).count() == 0
    return L3Figures(
        kills=kills,
        killed_after_accept=after_accept,
        runs=runs,
        deliveries=total,
        ambiguous=len(ambiguous),
        confirmed_by_staff=len(in_provider_log),
        resent_by_staff=len(ambiguous) - len(in_provider_log),
        seconds=round(time.monotonic() - started, 1),
    )


def report(name: str, figures: L2Figures | L3Figures) -> str:
    line = f"{name}: " + ", ".join(f"{k}={v}" for k, v in asdict(figures).items())
    print(line)
    return line
