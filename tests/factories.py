import uuid

import factory
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from cases.models import Case, Contact, Document


def _token() -> str:
    return uuid.uuid4().hex[:10].upper()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct-horse-battery")
    terms_version = factory.LazyFunction(lambda: settings.TERMS_VERSION)  # current terms, whatever the default
    terms_accepted_at = factory.LazyFunction(timezone.now)


class CaseFactory(factory.django.DjangoModelFactory):
    """Sensitive values carry a unique token (e.g. 'CN-SECRET-1A2B…') so tests can grep for leaks."""

    class Meta:
        model = Case

    case_number = factory.LazyFunction(lambda: f"CN-SECRET-{_token()}")
    state = "FL"
    county = "Miami-Dade"
    city = "Miami"
    zip_code = "33101"
    street = factory.LazyFunction(lambda: f"{_token()} Secretstreet Ave")
    parcel_number = factory.LazyFunction(lambda: f"PARCEL-{_token()}")
    stage = Case.Stage.NOTICE_OF_DEFAULT
    score = 75
    estimated_value_cents = 35_000_000
    amount_owed_cents = 21_000_000


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    case = factory.SubFactory(CaseFactory)
    name = factory.LazyFunction(lambda: f"Secretname {_token()}")
    phones = factory.LazyFunction(lambda: [f"+1-305-{_token()[:7]}", f"+1-786-{_token()[:7]}"])
    emails = factory.LazyFunction(lambda: [f"secret.{_token().lower()}@owner-mail.test"])
    mailing_address = factory.LazyFunction(lambda: f"{_token()} Mailing Rd, Tampa FL")


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    case = factory.SubFactory(CaseFactory)
    kind = Document.Kind.NOTICE_OF_DEFAULT
    title = "Notice of default"
    page_count = 3
    size_bytes = 48_213


def secrets_of(case: Case) -> list[str]:
    """Every sensitive value stored for a case, for leak searches."""
    values = [case.case_number, case.street, case.parcel_number]
    for contact in case.contacts.all():
        values += [contact.name, contact.mailing_address, *contact.phones, *contact.emails]
    return [v for v in values if v]


class ClaimFactory(factory.django.DjangoModelFactory):
    """A raw claim row (bypassing the services): for fixtures and for testing the database's own guards."""

    class Meta:
        model = "claims.Claim"

    case = factory.SubFactory(CaseFactory)
    user = factory.SubFactory(UserFactory)
    claimed_at = factory.LazyFunction(timezone.now)
    score_at_claim = 75
    daily_price_cents = 500
