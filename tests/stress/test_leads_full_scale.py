"""RELIABILITY.md L2 and L3 at full size (marker `stress`: not in `make test`). Run them with
`.venv/bin/pytest -m stress -s tests/stress/test_leads_full_scale.py`; each prints its figures."""

import pytest

from tests.leads.reliability import report, run_l2, run_l3

pytestmark = [pytest.mark.stress, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.LEAD_EXCLUSIVE_HOURS = 72


@pytest.mark.django_db(transaction=True)
def test_l2_500_leads_200_subscribers(staff_user):
    """500 leads x 200 subscribers in 10 PLZs, 174 hourly ticks, two overlapping send runs per tick, 20 unpaid."""
    figures = run_l2(staff_user=staff_user, leads=500, subscribers=200)
    report("L2", figures)
    assert (figures.leads, figures.subscribers, figures.unpaid) == (500, 200, 20)


@pytest.mark.django_db(transaction=True)
def test_l3_50_kills_at_the_send(staff_user, settings, tmp_path):
    """The sending job in a child process, SIGKILLed at the e-mail send 50 times and re-run after each kill."""
    settings.EMAIL_BACKEND = "tests.leads.backends.BlockingSpoolBackend"
    spool = tmp_path / "spool"
    spool.mkdir()
    figures = run_l3(staff_user=staff_user, kills=50, spool_dir=str(spool))
    report("L3", figures)
    assert (figures.kills, figures.ambiguous, figures.killed_after_accept) == (50, 50, 25)
