import pytest

from accounts.models import User
from leads.models import PlzSubscription
from leads.services import subscription_grant
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.LEAD_EXCLUSIVE_HOURS = 72


@pytest.fixture
def grant(db, staff_user):
    """grant("10115", user=…) → an active manual subscription."""

    def make(plz: str, user: User | None = None, **kwargs) -> PlzSubscription:
        return subscription_grant(actor=staff_user, user=user or UserFactory(), plz=plz, **kwargs)

    return make
