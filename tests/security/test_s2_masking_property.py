"""S2: generated names, phones, e-mails, addresses and case numbers never reach a non-owner raw.

Checked through JSON (list and detail API), HTML (list and detail pages), error pages (404s, 400s for refused
filters, a refused claim) and e-mail bodies (claim notices, which outlive ownership). Each value is checked raw,
HTML-escaped and JSON-escaped. There is no CSV export for subscribers yet; add it here when one appears.
"""

import uuid

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.models import Case, Contact
from claims.models import Claim, ClaimEvent
from claims.tasks import notify_claim_events_task
from tests.factories import DocumentFactory, UserFactory, secrets_of
from tests.security.leaks import leaked

pytestmark = pytest.mark.django_db

# Letters, digits and the characters escaping must get right; a unique tail keeps each value findable.
_TEXT = st.text(alphabet=st.sampled_from("abcXYZ éÜßñ-'&<>\"./ ,#0123456789"), min_size=1, max_size=24)
NAMES = st.builds(lambda first, last: f"{first} {last}".strip(), _TEXT, _TEXT)
PHONES = st.from_regex(r"\+?1?[ -]?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}", fullmatch=True)
EMAIL_LOCALS = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,20}", fullmatch=True)
STREETS = st.builds(lambda n, s: f"{n} {s} St", st.integers(1, 99999), _TEXT)
CASE_NUMBERS = st.from_regex(r"(19|20)\d{2}-(CA|CC|CH|FC)-\d{3,7}", fullmatch=True)


def _unique() -> str:
    return uuid.uuid4().hex[:8].upper()


@pytest.fixture
def viewers(db):
    owner = UserFactory(email="owner-s2@example.com")
    other = UserFactory(email="other-s2@example.com")
    client = Client()
    client.force_login(other)
    return owner, other, client


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES, phone=PHONES, local=EMAIL_LOCALS, street=STREETS, case_number=CASE_NUMBERS, owned=st.booleans())
def test_generated_sensitive_values_never_reach_a_non_owner(viewers, name, phone, local, street, case_number, owned):
    owner, _other, client = viewers
    tail = _unique()
    values = {
        "name": f"{name} {tail}",
        "phone": f"{phone} x{tail}",
        "email": f"{local}.{tail.lower()}@owner-mail.test",
        "street": f"{street} {tail}",
        "case_number": f"{case_number}-{tail}",
        "parcel": f"{case_number}/{tail}",
        "mailing": f"{street}, Apt {tail}",
    }
    case = Case.objects.create(
        case_number=values["case_number"], street=values["street"], parcel_number=values["parcel"],
        state="FL", county="Broward", city="Fort Lauderdale", zip_code="33301", score=60,
        assigned_to=owner if owned else None, assigned_at=timezone.now() if owned else None,
    )  # fmt: skip
    Contact.objects.create(
        case=case, name=values["name"], phones=[values["phone"]], emails=[values["email"]],
        mailing_address=values["mailing"],
    )  # fmt: skip
    DocumentFactory(case=case, title=f"Notice to {values['name']}, {values['street']}")
    secrets = list(values.values())

    pages = {
        "api list": client.get("/api/v3/cases", {"page_size": 100}),
        "api detail": client.get(f"/api/v3/cases/{case.pk}"),
        "html list": client.get("/cases/"),
        "html detail": client.get(f"/cases/{case.pk}/"),
        "api 404": client.get(f"/api/v3/cases/{case.pk + 10_000}"),
        "html 404": client.get(f"/cases/{case.pk + 10_000}/"),
        "api refused filter": client.get("/api/v3/cases", {"street": "Main", "search": "smith", "ordering": "name"}),
        "html refused filter": client.get("/cases/", {"case_number": "2020", "sort": "case_number"}),
        "document link": client.post(f"/api/v3/documents/{case.documents.get().pk}/link"),
    }
    if owned:  # a refused claim (409); on an unclaimed case the claim would succeed and make them the owner
        pages["api claim"] = client.post(f"/api/v3/cases/{case.pk}/claim")
    for what, response in pages.items():
        assert response.status_code < 500, what
        found = leaked(response.content.decode("utf-8", "replace"), secrets)
        assert not found, f"{what} ({response.status_code}) shows {found}"
    if owned:
        # The owner does see them (the check above is not vacuous).
        owner_client = Client()
        owner_client.force_login(owner)
        assert values["street"] in owner_client.get(f"/api/v3/cases/{case.pk}").json()["street"]


def test_claim_notice_e_mails_carry_no_masked_values(make_case, subscriber, other_subscriber):
    case = make_case(assigned_to=other_subscriber, assigned_at=timezone.now())
    now = timezone.now()
    claim = Claim.objects.create(
        case=case, user=subscriber, status=Claim.Status.REASSIGNED, claimed_at=now, released_at=now,
        score_at_claim=75, daily_price_cents=500,
    )  # fmt: skip
    event = ClaimEvent.objects.create(
        action=ClaimEvent.Action.REASSIGNED, case=case, claim=claim, from_user=subscriber, to_user=other_subscriber,
        reason="Reassigned by support", created_at=now,
    )  # fmt: skip
    mail.outbox.clear()
    assert notify_claim_events_task(event_ids=[event.pk]) == 2
    for message in mail.outbox:
        text = f"{message.subject}\n{message.body}\n" + "".join(str(a[1]) for a in message.alternatives or [])
        assert not leaked(text, secrets_of(case)), message.to
