"""A changelist action posted with ids that are not ids: a message on the list, nothing done, never a 500."""

import pytest
from django.contrib.messages import get_messages

from billing.models import Invoice
from jsn.middleware import AdminSelectionMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="boss@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("selection", [["abc"], ["1", "x"], ["1.5"], [str(2**63)], [""]])
@pytest.mark.parametrize(
    ("url", "action"),
    [
        ("/admin/billing/invoice/", "mark_paid"),
        ("/admin/claims/claim/", "release_claims"),
        ("/admin/accounts/user/", "delete_selected"),
        ("/admin/django_celery_beat/periodictask/", "delete_selected"),
    ],
)
def test_a_malformed_selection_is_a_message_not_a_500(staff_client, url, action, selection):
    response = staff_client.post(url, {"action": action, "apply": "1", "reason": "x", "_selected_action": selection})

    assert response.status_code == 302
    assert response.url == url
    assert AdminSelectionMiddleware.MESSAGE in [str(m) for m in get_messages(response.wsgi_request)]


def test_a_well_formed_selection_still_reaches_the_action(staff_client):
    response = staff_client.post(
        "/admin/billing/invoice/", {"action": "mark_paid", "_selected_action": ["999999"]}, follow=True
    )

    assert response.status_code == 200
    assert AdminSelectionMiddleware.MESSAGE not in [str(m) for m in response.context["messages"]]
    assert not Invoice.objects.exists()
