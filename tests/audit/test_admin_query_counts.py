"""Every admin changelist of our apps runs the same number of queries with 5 rows as with 50 (no N+1).

Each row gets its own related objects (its own user, case, lead…), so a column that follows a foreign key
without `list_select_related` costs one query per row and shows up here. A changelist registered later
without a row builder fails `test_every_changelist_of_our_apps_has_a_row_builder`.
"""

import itertools
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken, User, UserEvent
from backoffice.models import JobRun
from billing.models import BillingRun, BillingRunFailure, Invoice, PricingConfig, StripeDrift
from cases.models import Case, DocumentAccess
from claims.models import Claim, ClaimEvent
from leads.models import Delivery, ImportSource, Lead, LeadEvent, PlzCheckout, PlzSubscription
from outbox.models import OutboxMessage
from tests.audit import helpers as h
from tests.factories import CaseFactory, ClaimFactory, UserFactory

pytestmark = pytest.mark.django_db

OUR_APPS = ("accounts", "cases", "claims", "billing", "leads", "audit", "outbox", "backoffice")
_n = itertools.count(1)


def _user() -> User:
    return UserFactory()


def _case() -> Case:
    return CaseFactory(assigned_to=_user(), assigned_at=timezone.now())


def _lead() -> Lead:
    n = next(_n)
    return Lead.objects.create(sha256=f"{n:064d}", pdf="leads/x.pdf", plz="10115", status=Lead.Status.READY)


def _delivery() -> Delivery:
    return h.lead_delivery(user=_user(), when=timezone.now())


def _subscription() -> PlzSubscription:
    return PlzSubscription.objects.create(user=_user(), plz=f"{10000 + next(_n)}", status="active", source="manual")


def _run() -> BillingRun:
    return BillingRun.objects.create(first_day=date(2026, 11, 1), last_day=date(2026, 11, 1))


# One builder per model: a row with its own related objects.
ROW_BUILDERS: dict[type, Callable[[], object]] = {
    User: _user,
    ApiToken: lambda: ApiToken.objects.create(user=_user()),
    Case: _case,
    DocumentAccess: lambda: h.document_access(case=CaseFactory(), user=_user(), when=timezone.now()),
    Claim: lambda: ClaimFactory(case=CaseFactory(), user=_user()),
    ClaimEvent: lambda: h.claim_event(
        case=CaseFactory(), when=timezone.now(), to_user=_user(), from_user=_user(), actor=_user()
    ),
    Invoice: lambda: h.invoice(user=_user(), day=date(2026, 1, 1) + timedelta(days=next(_n))),
    PricingConfig: lambda: PricingConfig.objects.create(version=next(_n), created_by=_user()),
    BillingRun: _run,
    BillingRunFailure: lambda: BillingRunFailure.objects.create(run=_run(), user=_user(), error="Stripe down"),
    StripeDrift: lambda: StripeDrift.objects.create(
        invoice=h.invoice(user=_user()), kind=StripeDrift.Kind.STATUS, local_value="open", stripe_value="paid"
    ),
    Lead: lambda: (
        Delivery.objects.create(lead=_lead(), subscriber=_user(), position="first", due_at=timezone.now()).lead
    ),
    Delivery: _delivery,
    PlzSubscription: _subscription,
    ImportSource: lambda: ImportSource.objects.create(name=f"source-{next(_n)}"),
    LeadEvent: lambda: LeadEvent.objects.create(
        action=LeadEvent.Action.RESENT,
        actor=_user(),
        lead=(delivery := _delivery()).lead,
        delivery=delivery,
        subscription=_subscription(),
    ),
    UserEvent: lambda: UserEvent.objects.create(
        user=_user(), actor=_user(), action=UserEvent.Action.CLAIM_LIMIT_SET, from_value="50", to_value="60"
    ),
    PlzCheckout: lambda: PlzCheckout.objects.create(user=_user(), plzs=f"{10000 + next(_n)}"),
    OutboxMessage: lambda: OutboxMessage.objects.create(kind="claims.event_notices", payload={"event_ids": [1]}),
    JobRun: lambda: JobRun.objects.create(
        job="heartbeat",
        task="jsn.tasks.heartbeat_task",
        task_id=f"task-{next(_n)}",
        trigger=JobRun.Trigger.choices[0][0],
        status=JobRun.Status.choices[0][0],
        requested_by=_user(),
    ),
}

OUR_ADMINS = sorted(
    (model for model in admin.site._registry if model._meta.app_label in OUR_APPS), key=lambda m: m._meta.label
)


def test_every_changelist_of_our_apps_has_a_row_builder():
    missing = [model._meta.label for model in OUR_ADMINS if model not in ROW_BUILDERS]
    assert not missing, f"Add a row builder to {__file__} for: {missing}"


@pytest.fixture
def root_client(client):
    client.force_login(User.objects.create_superuser("root@example.com", "pw-123456789"))
    return client


def _changelist(client, model: type) -> tuple[int, int]:
    """(queries, rows shown) of one changelist GET."""
    opts = model._meta
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/admin/{opts.app_label}/{opts.model_name}/")
    assert response.status_code == 200, opts.label
    return len(ctx.captured_queries), len(response.context["cl"].result_list)


@pytest.mark.parametrize("model", OUR_ADMINS, ids=lambda m: m._meta.label)
def test_changelist_queries_do_not_grow_with_rows(root_client, model):
    build = ROW_BUILDERS[model]
    existing = model._default_manager.count()  # e.g. the superuser on the users page
    for _ in range(5):
        build()
    _changelist(root_client, model)  # warm per-process caches (content types, site)
    few, shown_few = _changelist(root_client, model)
    for _ in range(45):
        build()
    many, shown_many = _changelist(root_client, model)
    per_page = admin.site._registry[model].list_per_page
    assert (shown_few, shown_many) == (5 + existing, min(50 + existing, per_page)), model._meta.label
    assert many == few, f"{model._meta.label}: {few} queries with 5 rows, {many} with 50"
    # Session, user, and per page at most: a count or two, the rows, filters' choices, date hierarchy, actions.
    assert few <= 12, f"{model._meta.label}: {few} queries"
