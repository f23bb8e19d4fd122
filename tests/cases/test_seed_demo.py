"""manage.py seed_demo: demo accounts that can log in at once, realistic cases, safe to run on every start."""

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from cases.management.commands.seed_demo import DEMO_HELD_CLAIMS, DEMO_PASSWORD, demo_cases
from cases.models import Case, Contact, Document
from claims.models import Claim, ClaimEvent
from claims.services import claims_release_all_for_user
from leads.management.commands.seed_leads_demo import AGENTS

DEMO_EMAILS = ["alice@jsn.local", "bob@jsn.local", "carol@jsn.local", "staff@jsn.local"]


@pytest.fixture
def demo_mode(settings):
    settings.DEMO_MODE = True


def counts() -> tuple[int, ...]:
    return (
        User.objects.count(),
        EmailAddress.objects.count(),
        Case.objects.count(),
        Contact.objects.count(),
        Document.objects.count(),
        Claim.objects.count(),
        ClaimEvent.objects.count(),
    )


@pytest.mark.django_db
def test_seed_creates_accounts_and_realistic_cases_quickly(demo_mode, capsys):
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "DEMO ONLY" in out
    for email in DEMO_EMAILS + [agent for agent, _ in AGENTS]:  # every demo login is printed, the agents' too
        assert email in out
    assert f"password: {DEMO_PASSWORD}" in out

    users = {user.email: user for user in User.objects.filter(email__endswith="@jsn.local")}
    assert sorted(users) == DEMO_EMAILS
    assert users["staff@jsn.local"].is_staff and users["staff@jsn.local"].role == User.Role.STAFF
    for email in ("alice@jsn.local", "bob@jsn.local", "carol@jsn.local"):
        assert not users[email].is_staff and users[email].role == User.Role.SUBSCRIBER
    for user in users.values():
        assert user.terms_version == settings.TERMS_VERSION and user.terms_accepted_at is not None
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()

    cases = Case.objects.annotate(n_contacts=Count("contacts", distinct=True), n_docs=Count("documents", distinct=True))
    assert 250 <= cases.count() <= 400
    assert all(1 <= case.n_contacts <= 3 and 1 <= case.n_docs <= 3 for case in cases)
    assert set(Case.objects.values_list("state", flat=True)) >= {"FL", "CA", "TX", "NY", "OH", "AZ", "GA", "IL"}
    assert Case.objects.values("county").distinct().count() >= 20
    assert set(Case.objects.values_list("stage", flat=True)) == set(Case.Stage.values)
    spread = Case.objects.aggregate(low=Min("score"), high=Max("score"))
    assert spread["low"] <= 10 and spread["high"] >= 90
    assert Case.objects.filter(score__lt=40).count() >= 30 and Case.objects.filter(score__gte=80).count() >= 30
    assert all(case.zip_code.isdigit() and len(case.zip_code) == 5 for case in Case.objects.all())
    upcoming = Case.objects.filter(stage=Case.Stage.AUCTION_SCHEDULED)
    assert upcoming.exists() and not upcoming.filter(auction_date__lt=timezone.localdate()).exists()
    # Alice and Bob own nothing until they claim; Carol holds the best-scored free cases, claimed through the
    # service: an active claim with its frozen price and its audit event for each, the case's owner in step.
    carol = users["carol@jsn.local"]
    owned = Case.objects.filter(assigned_to__isnull=False)
    assert set(owned.values_list("assigned_to", flat=True)) == {carol.pk}
    assert owned.count() == DEMO_HELD_CLAIMS
    claimable = Case.objects.filter(Case.claimable_q())
    best = claimable.order_by("-score", "pk").values_list("pk", flat=True)[:DEMO_HELD_CLAIMS]
    assert set(owned.values_list("pk", flat=True)) == set(best)
    held = Claim.objects.filter(user=carol, status=Claim.Status.ACTIVE)
    assert sorted(held.values_list("case_id", flat=True)) == sorted(owned.values_list("pk", flat=True))
    assert all(claim.daily_price_cents > 0 and claim.score_at_claim == claim.case.score for claim in held)
    claimed_events = ClaimEvent.objects.filter(action=ClaimEvent.Action.CLAIMED, claim__in=held, to_user=carol)
    assert claimed_events.count() == DEMO_HELD_CLAIMS
    assert f"carol@jsn.local holds {DEMO_HELD_CLAIMS} claimed case(s)" in out

    for contact in Contact.objects.all():
        assert contact.name and contact.mailing_address and contact.phones
        assert all("555-01" in phone for phone in contact.phones)  # fictional numbers only
        assert all(email.split("@")[1] in {"example.com", "example.net", "example.org"} for email in contact.emails)
    for document in Document.objects.all():
        assert document.title and document.page_count >= 1 and document.size_bytes > 0
        # A real PDF behind every record, so the owner's download works in the demo.
        with document.file.open("rb") as handle:
            head = handle.read(5)
        assert head == b"%PDF-" and document.file.size == document.size_bytes


@pytest.mark.django_db
def test_second_run_creates_nothing_and_says_so(demo_mode, capsys):
    call_command("seed_demo")
    before = counts()
    capsys.readouterr()

    call_command("seed_demo")

    assert counts() == before
    assert "nothing new created" in capsys.readouterr().out


@pytest.mark.django_db
def test_released_demo_claims_stay_released_on_the_next_start(demo_mode):
    call_command("seed_demo")
    carol = User.objects.get(email="carol@jsn.local")
    staff = User.objects.get(email="staff@jsn.local")
    assert claims_release_all_for_user(actor=staff, user=carol, reason="trying the demo") == DEMO_HELD_CLAIMS

    call_command("seed_demo")

    assert not Claim.objects.filter(user=carol, status=Claim.Status.ACTIVE).exists()
    assert not Case.objects.filter(assigned_to__isnull=False).exists()


@pytest.mark.django_db
def test_second_run_keeps_a_changed_password(demo_mode):
    call_command("seed_demo")
    alice = User.objects.get(email="alice@jsn.local")
    alice.set_password("alice-own-secret-99")
    alice.save()

    call_command("seed_demo")

    alice.refresh_from_db()
    assert alice.check_password("alice-own-secret-99")


def test_generated_cases_are_deterministic():
    today = timezone.localdate()
    first = [(c.case_number, c.state, c.county, c.street, c.score) for c, _, _ in demo_cases(today=today)]
    second = [(c.case_number, c.state, c.county, c.street, c.score) for c, _, _ in demo_cases(today=today)]
    assert first == second
    assert len({(state, county, number) for number, state, county, _, _ in first}) == len(first)


@pytest.mark.django_db
def test_demo_subscriber_logs_in_with_the_printed_password(demo_mode, client):
    call_command("seed_demo")

    response = client.post(reverse("account_login"), {"login": "alice@jsn.local", "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse(settings.LOGIN_REDIRECT_URL)
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.session["_auth_user_id"] == str(User.objects.get(email="alice@jsn.local").pk)


@pytest.mark.django_db
def test_demo_staff_can_import_cases_in_the_admin(demo_mode, client):
    call_command("seed_demo")
    client.force_login(User.objects.get(email="staff@jsn.local"))

    assert client.get(reverse("admin:cases_case_changelist")).status_code == 200
    assert client.get(reverse("admin:cases_case_import")).status_code == 200


@pytest.mark.django_db
def test_refuses_to_run_outside_demo_mode_without_force(settings):
    settings.DEBUG = False
    settings.DEMO_MODE = False

    with pytest.raises(CommandError, match="published password"):
        call_command("seed_demo")
    assert counts() == (0, 0, 0, 0, 0, 0, 0)

    call_command("seed_demo", "--force")
    assert User.objects.filter(email__endswith="@jsn.local").count() == len(DEMO_EMAILS)


@pytest.mark.django_db
def test_demo_staff_finds_live_claims_and_stripe_lists_in_the_admin(demo_mode, client):
    call_command("seed_demo")
    client.force_login(User.objects.get(email="staff@jsn.local"))

    response = client.get(reverse("admin:claims_claim_changelist"), {"status__exact": "active"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == DEMO_HELD_CLAIMS
    assert {claim.user.email for claim in response.context["cl"].result_list} == {"carol@jsn.local"}
    # Looking only: dj-stripe's list without its sync actions, and their confirmation refused.
    stripe_list = client.get(reverse("admin:djstripe_customer_changelist"))
    assert stripe_list.status_code == 200
    assert "_sync_all_instances" not in stripe_list.content.decode()
    sync_all = client.post("/admin/djstripe/customer/action/_sync_all_instances/customer/")
    assert sync_all.status_code == 403


@pytest.mark.django_db
def test_when_the_holder_may_not_claim_the_seed_says_so_and_goes_on(demo_mode, monkeypatch, capsys):
    from cases.management.commands import seed_demo

    real = seed_demo.Command._seed_users

    def users_with_carol_on_old_terms(self) -> int:
        created = real(self)
        User.objects.filter(email="carol@jsn.local").update(terms_version="2000-01")
        return created

    monkeypatch.setattr(seed_demo.Command, "_seed_users", users_with_carol_on_old_terms)
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "carol@jsn.local claimed nothing:" in out
    assert not Claim.objects.filter(user__email="carol@jsn.local").exists()
    assert Case.objects.filter(source="demo").count() >= 250  # the rest of the demo is there
