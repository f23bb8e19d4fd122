"""Billing test factories: claims made directly with the ORM (not through the claim services)."""

from datetime import datetime

import factory

from claims.models import Claim
from tests.factories import CaseFactory, UserFactory


class ClaimFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Claim

    case = factory.SubFactory(CaseFactory)
    user = factory.SubFactory(UserFactory)
    status = Claim.Status.ACTIVE
    claimed_at = factory.LazyFunction(lambda: datetime.fromisoformat("2026-03-01T12:00:00+00:00"))
    released_at = None
    score_at_claim = factory.LazyAttribute(lambda o: o.case.score)
    daily_price_cents = 1000
    currency = "usd"


def released_claim(**kwargs) -> Claim:
    """A finished claim (the model requires released_at iff not active)."""
    kwargs.setdefault("status", Claim.Status.RELEASED)
    return ClaimFactory(**kwargs)
