"""Staff: review queue, upload, re-send, grants; the jobs and commands."""

import re
import warnings
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django.utils.deprecation import RemovedInDjango60Warning

from leads.models import Delivery, Lead, LeadEvent, PlzSubscription
from leads.samples import corrupt_pdf, lead_pdf, pdf_from_lines
from leads.services import lead_import_pdf
from leads.tasks import check_subscriptions_task, import_dialfire_task, send_due_deliveries_task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    return client


def test_review_queue_shows_candidates_and_staff_pick_releases(admin_client, grant):
    sub = grant("80331")
    lead = lead_import_pdf(
        content=pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "80331 München")]), filename="x.pdf"
    ).lead
    listing = admin_client.get(reverse("admin:leads_lead_changelist") + "?status__exact=review")
    assert "Review queue (1)" in listing.content.decode()
    with warnings.catch_warnings():
        # format_html() without arguments is deprecated (an error from Django 6.0): the table must not use it.
        warnings.simplefilter("error", RemovedInDjango60Warning)
        page = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "10115 Berlin" in page and "80331 München" in page and "PLZ to use" in page
    assert "<table><tr><th>PLZ</th><th>Matched</th>" in page and "<td><strong>80331</strong></td>" in page
    admin_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]),
        {"resolve_plz": "80331", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"},
    )
    lead.refresh_from_db()
    assert (lead.status, lead.plz) == (Lead.Status.DISTRIBUTED, "80331")
    assert Delivery.objects.get().subscriber_id == sub.user_id


def test_admin_upload_imports_once(admin_client):
    url = reverse("admin:leads_lead_upload")
    content = lead_pdf(plz="10115", city="Berlin", ref="UP")
    for _ in range(2):
        response = admin_client.post(url, {"pdf": SimpleUploadedFile("up.pdf", content, "application/pdf")})
        assert response.status_code == 302
    assert Lead.objects.count() == 1
    assert LeadEvent.objects.get(action="imported").actor.email == "root@example.com"


def test_admin_resend_action_is_audited(admin_client, grant):
    grant("10115")
    lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
    send_due_deliveries_task()
    delivery = Delivery.objects.get()
    admin_client.post(
        reverse("admin:leads_delivery_changelist"), {"action": "resend", "_selected_action": [delivery.pk]}
    )
    send_due_deliveries_task()
    assert len(mail.outbox) == 2
    assert LeadEvent.objects.get(action="resent").actor.email == "root@example.com"


def test_admin_add_subscription_is_a_grant_and_health_is_shown(admin_client):
    agent = UserFactory()
    PlzSubscription.objects.create(user=agent, plz="10115")  # pending request
    admin_client.post(reverse("admin:leads_plzsubscription_add"), {"user": agent.pk, "plz": "10115"})
    sub = PlzSubscription.objects.get(user=agent)
    assert (sub.status, sub.source) == ("active", "manual")
    import_dialfire_task()  # off (no DIALFIRE_BASE_URL): nothing to report but that
    page = admin_client.get(reverse("admin:leads_lead_changelist")).content.decode()
    assert re.search(r"Dialfire import:</strong>\s+off — leads arrive by upload only", page)


def test_the_lead_list_says_when_a_half_configured_dialfire_import_fails(admin_client, settings):
    settings.DIALFIRE_BASE_URL, settings.DIALFIRE_TOKEN = "https://api.dialfire.invalid", ""
    import_dialfire_task()
    page = admin_client.get(reverse("admin:leads_lead_changelist")).content.decode()
    assert "failing (1×): Dialfire is not configured" in page


def test_check_subscriptions_task_expires_manual_grants(grant):
    ended = grant("10115", period_end=timezone.now() - timedelta(minutes=1))
    ongoing = grant("10115", period_end=timezone.now() + timedelta(days=1))
    no_stripe = {
        "stripe_checked": 0,
        "stripe_failed": 0,
        "stripe_not_checked": 0,
    }  # Stripe-paid ones: tests/leads/test_stripe_subscriptions.py
    assert check_subscriptions_task() == {"expired": 1, **no_stripe}
    assert check_subscriptions_task() == {"expired": 0, **no_stripe}
    assert PlzSubscription.objects.get(pk=ended.pk).status == "canceled"
    assert PlzSubscription.objects.get(pk=ongoing.pk).status == "active"


def test_send_task_plans_leads_left_ready_and_sends(grant):
    grant("10115")
    lead = Lead.objects.create(sha256="0" * 64, pdf="x.pdf", plz="10115", status=Lead.Status.READY)
    from django.core.files.base import ContentFile

    lead.pdf.save("x.pdf", ContentFile(lead_pdf(plz="10115", city="Berlin")))
    assert send_due_deliveries_task()["sent"] == 1


def test_import_leads_command(tmp_path, capsys):
    (tmp_path / "a.pdf").write_bytes(lead_pdf(plz="10115", city="Berlin", ref="A"))
    (tmp_path / "b.PDF").write_bytes(corrupt_pdf())
    (tmp_path / "notes.txt").write_text("ignored")
    call_command("import_leads", str(tmp_path))
    call_command("import_leads", str(tmp_path))
    out = capsys.readouterr().out
    assert "2 PDFs: 1 distributed, 1 quarantined." in out
    assert "2 PDFs: 2 duplicate." in out
    assert Lead.objects.count() == 2


def test_seed_leads_demo_is_repeatable(capsys):
    call_command("seed_leads_demo", "--leads", "4")
    call_command("seed_leads_demo", "--leads", "4")
    assert PlzSubscription.objects.filter(status="active").count() == 6
    assert PlzSubscription.objects.filter(status="pending").count() == 1
    assert Lead.objects.filter(status="review").count() == 1
    assert Lead.objects.filter(status="quarantined").count() == 1
    assert len(mail.outbox) >= 1


def _review_lead():
    return lead_import_pdf(
        content=pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "80331 München")]), filename="r.pdf"
    ).lead


def _resolve(admin_client, lead, plz):
    return admin_client.post(
        reverse("admin:leads_lead_change", args=[lead.pk]),
        {"resolve_plz": plz, "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"},
        follow=True,
    )


@pytest.mark.parametrize("typed", ["803310", "8033", "00999", "80 331"])
def test_review_with_a_bad_plz_is_a_form_error_not_a_success(admin_client, typed):
    lead = _review_lead()
    page = _resolve(admin_client, lead, typed).content.decode()
    assert "errorlist" in page and "changed successfully" not in page
    assert f'value="{typed}"' in page  # shown back whole: no maxlength cut the sixth digit off
    assert 'maxlength="5"' not in page
    lead.refresh_from_db()
    assert (lead.status, lead.plz or "") == (Lead.Status.REVIEW, "")
    assert not LeadEvent.objects.filter(action="review_resolved").exists()


def test_review_of_a_lead_someone_else_resolved_says_so_once(admin_client, grant):
    grant("80331")
    lead = _review_lead()
    stale_form = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk]))
    assert stale_form.status_code == 200
    _resolve(admin_client, lead, "80331")
    page = _resolve(admin_client, lead, "10115").content.decode()
    assert "This lead is not waiting for review." in page and "changed successfully" not in page
    lead.refresh_from_db()
    assert lead.plz == "80331" and Delivery.objects.count() == 1


def test_review_names_the_recipients_and_warns_when_nobody_subscribes(admin_client, grant):
    grant("80331")
    grant("80331")
    lead = _review_lead()
    page = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    assert "<th>Agents subscribed</th>" in page
    assert re.search(r"<td><strong>80331</strong></td>.*?<td>2</td></tr>", page)
    assert re.search(r"<td><strong>10115</strong></td>.*?<td>0</td></tr>", page)
    page = _resolve(admin_client, lead, "80331").content.decode()
    assert f"Lead #{lead.pk} released for PLZ 80331 to 2 agents." in page

    other = lead_import_pdf(
        content=pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "20095 Hamburg")]), filename="s.pdf"
    ).lead
    page = _resolve(admin_client, other, "20095").content.decode()
    assert "no agent subscribes to PLZ 20095: nobody receives it" in page
    assert "changed successfully" not in page.split("no agent subscribes")[0][-300:]
    other.refresh_from_db()
    assert other.plz == "20095" and not other.deliveries.exists()


def test_staff_open_the_lead_pdf_from_the_review_page_and_it_is_logged(admin_client, client):
    lead = _review_lead()
    page = admin_client.get(reverse("admin:leads_lead_change", args=[lead.pk])).content.decode()
    url = reverse("admin:leads_lead_pdf", args=[lead.pk])
    assert f'href="{url}"' in page and "Open the PDF" in page
    response = admin_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert "attachment" not in response.get("Content-Disposition", "")
    event = LeadEvent.objects.get(action="downloaded")
    assert event.lead_id == lead.pk and event.actor.email == "root@example.com" and event.detail == {"staff": True}
    assert admin_client.get(reverse("admin:leads_lead_pdf", args=[lead.pk + 999])).status_code == 404


def test_the_lead_pdf_is_staff_only(client):
    lead = _review_lead()
    url = reverse("admin:leads_lead_pdf", args=[lead.pk])
    assert client.get(url).status_code == 302  # to the admin login
    client.force_login(UserFactory(email="agent@example.com"))
    response = client.get(url)
    assert response.status_code == 302 and "login" in response["Location"]
    assert not LeadEvent.objects.filter(action="downloaded").exists()


def test_review_lost_to_a_concurrent_resolve_reports_the_error_without_success(admin_client, grant, monkeypatch):
    from leads import services as lead_services

    lead = _review_lead()
    real = lead_services.lead_review_resolve
    other_staff = UserFactory(email="other@example.com", is_staff=True)

    def someone_else_first(*, actor, lead, plz, **kwargs):
        real(actor=other_staff, lead=lead, plz="10115")  # between this form's check and its save
        return real(actor=actor, lead=lead, plz=plz, **kwargs)

    monkeypatch.setattr(lead_services, "lead_review_resolve", someone_else_first)
    page = _resolve(admin_client, lead, "80331").content.decode()
    assert "This lead is not waiting for review." in page and "changed successfully" not in page
    lead.refresh_from_db()
    assert (lead.plz, lead.reviewed_by_id) == ("10115", other_staff.pk)
