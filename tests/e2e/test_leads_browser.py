"""An agent on /leads/: requests PLZs and withdraws one with a (slow) double click — in headless Chromium."""

import time
from collections.abc import Callable

import pytest
from allauth.account.models import EmailAddress

from leads import services as lead_services
from leads import views as lead_views
from leads.models import LeadEvent, PlzSubscription
from tests.e2e.test_ui_fixes_browser import double_click, posts_to
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def agent():
    user = UserFactory(email="agent-withdraw@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def slow_withdraw(monkeypatch):
    """The withdrawal takes half a second: the second click of a double click lands while the first is in flight."""
    work: Callable = lead_services.subscription_withdraw

    def slow(**kwargs):
        time.sleep(0.5)
        return work(**kwargs)

    monkeypatch.setattr(lead_views.services, "subscription_withdraw", slow)


def test_an_agent_withdraws_a_request_once_with_a_double_click(live_server, page, login, agent, slow_withdraw, shot):
    login(page, agent.email)
    page.goto(f"{live_server.url}/leads/")
    page.fill("input[name=plz]", "10115; 80331")
    page.click("button:has-text('Request subscription')")
    page.wait_for_selector("text=Requested: 10115, 80331 — awaiting payment.")

    withdraws = posts_to(page, "/withdraw/")
    double_click(page.get_by_role("button", name="Withdraw the request for 10115"))
    page.wait_for_selector(".messages .msg")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)

    assert len(withdraws) == 1
    assert page.locator(".messages .msg").all_inner_texts() == [
        "Withdrawn: 10115 — nothing is due for it, and it no longer awaits payment."
    ]
    page.click("summary:has-text('Ended subscriptions (1)')")
    assert "10115" in page.locator(".ended-subscriptions").inner_text()
    assert page.get_by_role("button", name="Withdraw the request for 80331").is_visible()
    shot(page, "leads-1-withdrawn")
    assert PlzSubscription.objects.get(user=agent, plz="10115").status == "canceled"
    assert LeadEvent.objects.filter(action="subscription_ended").count() == 1
