"""Closing an account: claims released, subscriptions ended, identity removed, sessions ended, invoices kept."""

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User
from billing.models import Invoice
from claims.models import Claim
from claims.services import claim_cases
from leads.models import PlzSubscription
from tests.billing.factories import ClaimFactory
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_closing_releases_claims_ends_subscriptions_and_logs_out_everywhere(client):
    user = UserFactory(email="leaving@example.com", first_name="Lea", last_name="Ving")
    case = CaseFactory()
    claim_cases(user=user, case_ids=[case.pk])
    old = ClaimFactory(user=user, claimed_at=timezone.now() - timezone.timedelta(days=5))
    Invoice.objects.create(
        user=user, invoice_date=timezone.localdate(), number="JSN-TEST-1", currency="usd",
        subtotal_cents=0, tax_cents=0, total_cents=0, due_date=timezone.localdate(),
    )  # fmt: skip
    PlzSubscription.objects.create(user=user, plz="10115", status="active", source="manual")
    Token.objects.create(user=user)
    other_device = Client()
    other_device.force_login(user)
    client.force_login(user)

    refused = client.post("/me/close/", {"password": "wrong", "confirm": "CLOSE"})
    assert refused.status_code == 400 and User.objects.get(pk=user.pk).is_active

    response = client.post("/me/close/", {"password": "correct-horse-battery", "confirm": "CLOSE"})
    assert response.status_code == 302 and response["Location"] == "/"
    user.refresh_from_db()
    assert not user.is_active and user.email == f"closed-{user.pk}@closed.invalid"
    assert (user.first_name, user.last_name) == ("", "") and not user.has_usable_password()
    case.refresh_from_db()
    assert case.assigned_to_id is None
    assert not Claim.objects.filter(user=user, status=Claim.Status.ACTIVE).exists()
    assert Claim.objects.filter(pk=old.pk).exists()  # history kept
    assert Invoice.objects.filter(user=user, number="JSN-TEST-1").exists()  # legal retention
    assert PlzSubscription.objects.get(user=user).status == PlzSubscription.Status.CANCELED
    assert not Token.objects.filter(user=user).exists()
    # Every other session is over too.
    assert other_device.get("/dashboard/").status_code == 302
    assert not UserFactory._meta.model.objects.filter(email="leaving@example.com").exists()


def test_closing_needs_the_word_close(client):
    user = UserFactory(email="careful@example.com")
    client.force_login(user)
    response = client.post("/me/close/", {"password": "correct-horse-battery", "confirm": "close please"})
    assert response.status_code == 400
    assert User.objects.get(pk=user.pk).is_active
