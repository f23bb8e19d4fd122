from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail

from claims import services, tasks
from claims.models import Claim, ClaimEvent
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def test_beat_runs_expiry_every_minute_and_warnings_daily():
    schedule = {entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["claims.tasks.expire_claims_task"].minute == set(range(60))  # access ends at the expiry
    assert schedule["claims.tasks.warn_expiring_claims_task"].hour == {8}


def test_expire_task_releases_due_claims_once(subscriber, settings):
    settings.CLAIM_MAX_DAYS = 1
    case = CaseFactory()
    with time_machine.travel("2026-03-01 10:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[case.pk])
    with time_machine.travel("2026-03-02 11:05Z", tick=False):
        assert tasks.expire_claims_task() == 1
        assert tasks.expire_claims_task() == 0  # a second (or overlapping) run changes nothing
    assert Claim.objects.get().status == "expired"
    assert ClaimEvent.objects.filter(action="expired").count() == 1


def test_expiry_e_mail_goes_out_after_commit(
    subscriber, settings, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    settings.CLAIM_MAX_DAYS = 1
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.claims_expire(now=datetime.now(tz=UTC) + timedelta(days=2))
    assert [m.to for m in mailoutbox] == [[subscriber.email]]
    assert "expired" in mailoutbox[0].body and case.street not in mailoutbox[0].body


def test_warning_is_sent_once_the_day_before_expiry(subscriber, other_subscriber, settings, mailoutbox):
    settings.CLAIM_MAX_DAYS = 3
    settings.BILLING_TIME_ZONE = "UTC"
    soon, later = CaseFactory.create_batch(2)
    with time_machine.travel("2026-03-01 09:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[soon.pk])  # expires 03-04 09:00
    with time_machine.travel("2026-03-02 09:00Z", tick=False):
        services.claim_cases(user=other_subscriber, case_ids=[later.pk])  # expires 03-05 09:00
    with time_machine.travel("2026-03-02 08:00Z", tick=False):
        assert tasks.warn_expiring_claims_task() == 0  # two days ahead: not yet
    with time_machine.travel("2026-03-03 08:00Z", tick=False):
        assert tasks.warn_expiring_claims_task() == 1
        assert tasks.warn_expiring_claims_task() == 0  # the same warning never twice
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [subscriber.email] and f"Case #{soon.pk}" in message.body
    assert message.subject == "[JSN] Your claim on 1 case(s) expires soon"
    assert message.body.startswith("Hello,\n\n") and message.body.endswith("\n\n— JSN\n")
    assert soon.street not in message.body and soon.case_number not in message.body
    assert Claim.objects.get(case=soon).expiry_warned_for == Claim.objects.get(case=soon).expires_at


def test_a_changed_expiry_is_warned_again(subscriber, staff_user, settings, mailoutbox):
    settings.CLAIM_MAX_DAYS = 1
    case = CaseFactory()
    with time_machine.travel("2026-03-01 09:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[case.pk])
        assert tasks.warn_expiring_claims_task() == 1
        claim = Claim.objects.get()
        services.claim_set_expiry(actor=staff_user, claim=claim, expires_at=claim.expires_at + timedelta(hours=6))
        assert tasks.warn_expiring_claims_task() == 1
    assert len(mailoutbox) == 2


def test_the_owner_is_emailed_the_new_expiry_staff_set(
    subscriber, staff_user, settings, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    settings.CLAIM_MAX_DAYS = 1
    case = CaseFactory()
    with time_machine.travel("2026-03-01 09:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[case.pk])
        claim = Claim.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            services.claim_set_expiry(
                actor=staff_user, claim=claim, expires_at=claim.expires_at - timedelta(hours=20), reason="Auction moved"
            )
        with django_capture_on_commit_callbacks(execute=True):
            services.claim_set_expiry(actor=staff_user, claim=claim, expires_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            services.claim_set_expiry(actor=staff_user, claim=claim, expires_at=None)  # unchanged: no event, no mail

    assert [m.to for m in mailoutbox] == [[subscriber.email], [subscriber.email]]
    first, second = (m.body for m in mailoutbox)
    assert f"Case #{case.pk}" in first
    assert "The expiry of your claim was changed from 2026-03-02 09:00 UTC to 2026-03-01 13:00 UTC." in first
    assert "Reason: Auction moved" in first
    assert "changed from 2026-03-01 13:00 UTC to never." in second and "Reason: Expiry changed by staff" in second
    assert case.street not in first + second and case.case_number not in first + second


def test_staff_changing_the_expiry_of_their_own_claim_get_no_mail(
    staff_user, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    case = CaseFactory()
    services.claim_cases(user=staff_user, case_ids=[case.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert services.claim_set_expiry(
            actor=staff_user, claim=Claim.objects.get(), expires_at=datetime(2030, 1, 1, tzinfo=UTC)
        )
    assert ClaimEvent.objects.filter(action="expiry_changed").count() == 1
    assert mailoutbox == []


def test_staff_reassigning_their_own_claim_tell_the_new_owner(
    staff_user, subscriber, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    case = CaseFactory()
    services.claim_cases(user=staff_user, case_ids=[case.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.claim_reassign(actor=staff_user, claim=Claim.objects.get(), to_user=subscriber, reason="Yours now")

    assert [m.to for m in mailoutbox] == [[subscriber.email]]  # not the staff member: they did it
    (notice,) = mailoutbox
    assert notice.subject == "[JSN] Changes to your claimed cases"  # says who it is from before it is opened
    assert notice.body.startswith("Hello,\n\n") and notice.body.endswith("\n\n— JSN\n")
    assert "This case was assigned to you. Reason: Yours now" in notice.body
    claim = Claim.objects.get(user=subscriber, status="active")
    price = f"{claim.daily_price_cents // 100}.{claim.daily_price_cents % 100:02d} {claim.currency.upper()}"
    assert f"Its daily price is {price}, fixed at the assignment; release it" in notice.body  # what it costs them
    assert "Your claims: http" in notice.body and "/claims/" in notice.body  # the next step is a link away


def test_a_failed_warning_send_is_retried_next_run(subscriber, settings, monkeypatch):
    settings.CLAIM_MAX_DAYS = 1
    services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("jsn.lib.mail.send_mail", broken)
    with pytest.raises(ConnectionRefusedError):
        tasks.warn_expiring_claims_task()
    assert Claim.objects.get().expiry_warned_for is None
    monkeypatch.undo()
    assert tasks.warn_expiring_claims_task() == 1
