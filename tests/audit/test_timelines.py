"""Audit timelines: every source merged newest first, filters, keyset pages, bounded queries, permissions."""

from datetime import date

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from audit.selectors import Kind, timeline_for_case, timeline_for_user
from cases.models import Case
from claims.models import ClaimEvent
from tests.audit import helpers as h
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db) -> User:
    return User.objects.create_superuser("root@example.com", "pw-123456789")


@pytest.fixture
def root_client(client, root):
    client.force_login(root)
    return client


@pytest.fixture
def case_world(subscriber, other_subscriber, root):
    """One case with a row of every case source, at known minutes after T0, and noise on another case."""
    case = CaseFactory()
    noise = CaseFactory()
    claimed = h.claim_event(case=case, when=h.at(0), to_user=subscriber)
    access = h.document_access(case=case, user=subscriber, when=h.at(10))
    refused = h.document_access(case=case, user=other_subscriber, when=h.at(15), refused=True)
    reassigned = h.claim_event(
        case=case,
        when=h.at(20),
        action=ClaimEvent.Action.REASSIGNED,
        from_user=subscriber,
        to_user=other_subscriber,
        actor=root,
        reason="Territory change",
    )
    inv = h.invoice(user=other_subscriber, case=case, stripe_id="in_case_1")
    paid = h.invoice_event(inv=inv, when=h.at(30))
    stripe = h.stripe_event(when=h.at(40), object_id="in_case_1", customer="cus_other")
    change = h.admin_change(obj=case, by=root, when=h.at(50))
    # Noise: the same kinds of rows for another case and another invoice never show up.
    h.claim_event(case=noise, when=h.at(5), to_user=subscriber)
    h.document_access(case=noise, user=subscriber, when=h.at(6))
    h.invoice_event(inv=h.invoice(user=subscriber, case=noise, stripe_id="in_noise"), when=h.at(7))
    h.stripe_event(when=h.at(8), object_id="in_noise")
    h.admin_change(obj=noise, by=root, when=h.at(9))
    return {
        "case": case,
        "rows": [change, stripe, paid, reassigned, refused, access, claimed],  # newest first
    }


def test_case_timeline_joins_every_source_newest_first(case_world, root, subscriber, other_subscriber):
    page = timeline_for_case(case_id=case_world["case"].pk, viewer=root)
    kinds = [e.kind for e in page.entries]
    assert kinds == [Kind.ADMIN, Kind.STRIPE, Kind.INVOICE, Kind.CLAIM, Kind.DOCUMENT, Kind.DOCUMENT, Kind.CLAIM]
    assert [e.at for e in page.entries] == [h.at(m) for m in (50, 40, 30, 20, 15, 10, 0)]
    reassigned = page.entries[3]
    assert reassigned.title == f"Reassigned: case #{case_world['case'].pk}"
    assert reassigned.summary == f"{subscriber.email} → {other_subscriber.email}"
    assert (reassigned.note, reassigned.actor) == ("Territory change", root.email)
    assert page.entries[4].tone == "bad" and "Not the case's owner" in page.entries[4].summary
    assert page.entries[2].title.endswith("Open → Paid")
    assert page.entries[1].title == "Stripe invoice.paid" and "webhook processed" in page.entries[1].summary
    assert page.next_cursor is None
    assert page.available_kinds == (Kind.CLAIM, Kind.DOCUMENT, Kind.INVOICE, Kind.STRIPE, Kind.ADMIN)


def test_kind_and_date_filters(case_world, root):
    case_id = case_world["case"].pk
    only_claims = timeline_for_case(case_id=case_id, viewer=root, kinds=["claim"])
    assert [e.title.split(":")[0] for e in only_claims.entries] == ["Reassigned", "Claimed"]
    two = timeline_for_case(case_id=case_id, viewer=root, kinds=["document", "stripe"])
    assert [e.kind for e in two.entries] == [Kind.STRIPE, Kind.DOCUMENT, Kind.DOCUMENT]
    # T0 is 2026-11-02; nothing on the 3rd, everything on the 2nd.
    assert timeline_for_case(case_id=case_id, viewer=root, since=date(2026, 11, 3)).entries == []
    day = timeline_for_case(case_id=case_id, viewer=root, since=date(2026, 11, 2), until=date(2026, 11, 2))
    assert len(day.entries) == 7
    assert timeline_for_case(case_id=case_id, viewer=root, until=date(2026, 11, 1)).entries == []


def test_keyset_pages_walk_every_row_once_even_with_ties(root, subscriber):
    """Rows of several sources at the very same instant: pages of 3 still give each row exactly once, in order."""
    case = CaseFactory()
    expected = []
    for i in range(5):
        expected.append(("claim", h.claim_event(case=case, when=h.at(1), to_user=subscriber).pk))
        expected.append(("document", h.document_access(case=case, user=subscriber, when=h.at(1)).pk))
        expected.append(("admin", h.admin_change(obj=case, by=root, when=h.at(1 + i % 2)).pk))
    seen, before, pages = [], None, 0
    while True:
        page = timeline_for_case(case_id=case.pk, viewer=root, before=before, page_size=3)
        pages += 1
        seen += [(e.kind.value, e.pk) for e in page.entries]
        keys = [(e.at, e.rank, e.pk) for e in page.entries]
        assert keys == sorted(keys, reverse=True)
        if page.next_cursor is None:
            break
        before = page.next_cursor
    assert pages == 5
    assert len(seen) == len(set(seen)) == 15
    assert sorted(seen) == sorted(expected)


def _case_queries(case_id: int, viewer: User) -> int:
    with CaptureQueriesContext(connection) as ctx:
        page = timeline_for_case(case_id=case_id, viewer=viewer, page_size=50)
    assert page.entries
    return len(ctx.captured_queries)


def test_case_timeline_queries_do_not_grow_with_history(root, subscriber):
    ContentType.objects.get_for_model(Case)  # cached per process after the first use
    case = CaseFactory()
    inv = h.invoice(user=subscriber, case=case, stripe_id="in_q")

    def add(n: int) -> None:
        for i in range(n):
            h.claim_event(case=case, when=h.at(i), to_user=subscriber)
            h.document_access(case=case, user=subscriber, when=h.at(i))
            h.invoice_event(inv=inv, when=h.at(i))
            h.stripe_event(when=h.at(i), object_id="in_q")
            h.admin_change(obj=case, by=root, when=h.at(i))

    add(5)
    small = _case_queries(case.pk, root)
    add(60)  # 325 rows in all: more than six pages
    assert _case_queries(case.pk, root) == small == 6
    # The 6: claim events, document accesses, invoice events, Stripe events, their webhook deliveries (prefetch),
    # admin log entries. The superuser's permissions cost none.


def test_user_timeline_joins_every_user_source(root, subscriber, other_subscriber):
    case = CaseFactory()
    h.claim_event(case=case, when=h.at(0), to_user=subscriber)
    h.document_access(case=case, user=subscriber, when=h.at(1))
    h.claim_event(
        case=case,
        when=h.at(2),
        action=ClaimEvent.Action.REASSIGNED,
        from_user=subscriber,
        to_user=other_subscriber,
        actor=root,
        reason="Moved",
    )
    h.invoice_event(inv=h.invoice(user=subscriber, case=case), when=h.at(3), to_status="failed")
    h.stripe_customer(user=subscriber)
    h.stripe_event(when=h.at(4), object_id="pm_1", customer=f"cus_test_{subscriber.pk}", kind="payment_method.attached")
    h.stripe_event(when=h.at(4.5), object_id=f"cus_test_{subscriber.pk}", kind="customer.updated", processed=False)
    h.lead_delivery(user=subscriber, when=h.at(5))
    h.lead_event(user=subscriber, when=h.at(6), actor=root)
    h.login(user=subscriber, when=h.at(7))
    h.admin_change(obj=subscriber, by=root, when=h.at(8), message="Changed claim limit.")
    # Noise: the other user's own rows.
    h.claim_event(case=CaseFactory(), when=h.at(9), to_user=other_subscriber)
    h.login(user=other_subscriber, when=h.at(9))
    h.stripe_event(when=h.at(9), object_id="pm_2", customer="cus_someone_else")

    page = timeline_for_user(user_id=subscriber.pk, viewer=root)
    assert [e.kind.value for e in page.entries] == [
        "admin", "login", "lead", "lead", "stripe", "stripe", "invoice", "claim", "document", "claim",
    ]  # fmt: skip
    titles = [e.title for e in page.entries]
    assert titles[2] == "Subscription granted" and titles[3].startswith("Lead #")
    assert titles[4] == "Stripe customer.updated" and page.entries[4].tone == "bad"
    assert "webhook failed: KeyError" in page.entries[4].summary
    assert titles[5] == "Stripe payment_method.attached"
    assert page.entries[6].tone == "bad"  # the failed payment
    assert page.entries[7].summary == f"{subscriber.email} → {other_subscriber.email}"
    assert page.user == subscriber


def test_user_timeline_shows_what_staff_did(root, subscriber):
    case = CaseFactory()
    h.claim_event(
        case=case,
        when=h.at(1),
        action=ClaimEvent.Action.RELEASED,
        from_user=subscriber,
        actor=root,
        reason="Released by staff",
    )
    h.admin_change(obj=case, by=root, when=h.at(2))
    page = timeline_for_user(user_id=root.pk, viewer=root)
    assert [e.kind for e in page.entries] == [Kind.ADMIN, Kind.CLAIM]


def test_user_timeline_queries_do_not_grow_with_history(root, subscriber):
    ContentType.objects.get_for_model(User)
    h.stripe_customer(user=subscriber)
    case = CaseFactory()
    inv = h.invoice(user=subscriber, case=case)

    def add(n: int) -> None:
        for i in range(n):
            h.claim_event(case=case, when=h.at(i), to_user=subscriber)
            h.document_access(case=case, user=subscriber, when=h.at(i))
            h.invoice_event(inv=inv, when=h.at(i))
            h.stripe_event(when=h.at(i), object_id=f"pm_{i}", customer=f"cus_test_{subscriber.pk}")
            h.lead_delivery(user=subscriber, when=h.at(i))
            h.lead_event(user=subscriber, when=h.at(i))
            h.login(user=subscriber, when=h.at(i))
            h.admin_change(obj=subscriber, by=root, when=h.at(i))

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert timeline_for_user(user_id=subscriber.pk, viewer=root).entries
        return len(ctx.captured_queries)

    add(5)
    small = count()
    add(55)
    # 1 user, 1 claim events, 1 document accesses, 1 invoice events, 1 Stripe customer ids, 1 Stripe events,
    # 1 their webhook deliveries, 1 lead deliveries, 1 lead events, 1 logins, 1 admin log entries = 11.
    assert count() == small == 11


# --- The pages ----------------------------------------------------------------------------------------------------


def test_case_timeline_page_renders_entries_and_older_link(root_client, case_world):
    case = case_world["case"]
    response = root_client.get(f"/admin/audit/case/{case.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Territory change" in body and "Stripe invoice.paid" in body and "Reassigned" in body
    assert "Older →" not in body
    for i in range(60):
        h.claim_event(case=case, when=h.at(100 + i), to_user=case.claims.first().user)
    first = root_client.get(f"/admin/audit/case/{case.pk}/?kind=claim")
    assert first.status_code == 200 and "Older →" in first.content.decode()
    older = first.context["older_url"]
    assert "kind=claim" in older and "before=" in older
    second = root_client.get(f"/admin/audit/case/{case.pk}/{older}")
    entries = second.context["entries"]
    assert second.status_code == 200 and {e.kind for e in entries} == {Kind.CLAIM}
    assert len(first.context["entries"]) + len(entries) == 62
    assert "← Newest" in second.content.decode()


@pytest.mark.parametrize(
    "query",
    ["?before=not-a-cursor", "?before=1.2", "?before=99999999999999999999.1.1", "?since=2026-11-05&until=2026-11-01"],
)
def test_bad_filters_are_a_400_with_the_form_error(root_client, case_world, query):
    response = root_client.get(f"/admin/audit/case/{case_world['case'].pk}/{query}")
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()


def test_unknown_subjects_are_404(root_client):
    assert root_client.get("/admin/audit/case/999999/").status_code == 404
    assert root_client.get("/admin/audit/user/999999/").status_code == 404


def test_subscribers_and_anonymous_never_see_a_timeline(client, subscriber, case_world):
    url = f"/admin/audit/case/{case_world['case'].pk}/"
    assert client.get(url).status_code == 302  # to the login
    client.force_login(subscriber)
    response = client.get(url, follow=True)
    assert response.status_code == 403
    assert "Territory change" not in response.content.decode()


def test_staff_see_only_the_sources_they_may_read(client, case_world):
    staff = UserFactory(email="ops@example.com", role="staff")
    client.force_login(staff)
    url = f"/admin/audit/case/{case_world['case'].pk}/"
    assert client.get(url).status_code == 403  # no permission for any source
    h.grant(staff, "cases.view_case", "claims.view_claimevent")
    response = client.get(url)
    assert response.status_code == 200
    assert {e.kind for e in response.context["entries"]} == {Kind.CLAIM}
    assert [c[0] for c in response.context["form"].fields["kind"].choices] == ["claim"]
    # Asking for a kind one may not read is refused, not quietly widened.
    assert client.get(url + "?kind=stripe&kind=claim").status_code == 400


def test_page_queries_do_not_grow_with_rows(root_client, root, subscriber):
    case = CaseFactory()
    url = f"/admin/audit/case/{case.pk}/"

    def add(n: int, start: int) -> None:
        for i in range(n):
            h.claim_event(case=case, when=h.at(start + i), to_user=subscriber)
            h.document_access(case=case, user=subscriber, when=h.at(start + i))

    add(5, 0)
    root_client.get(url)  # warm the content-type cache
    with CaptureQueriesContext(connection) as few:
        assert root_client.get(url).status_code == 200
    add(50, 100)
    with CaptureQueriesContext(connection) as many:
        assert len(root_client.get(url).context["entries"]) == 50
    # session, user, case (+ owner), then the timeline's 5 source queries (no Stripe rows: no prefetch query).
    assert len(few.captured_queries) == len(many.captured_queries) == 8


def test_admin_pages_link_to_the_timelines(root_client, case_world, subscriber):
    case = case_world["case"]
    body = root_client.get(f"/admin/cases/case/{case.pk}/change/").content.decode()
    assert f'href="/admin/audit/case/{case.pk}/"' in body
    body = root_client.get(f"/admin/accounts/user/{subscriber.pk}/change/").content.decode()
    assert f'href="/admin/audit/user/{subscriber.pk}/"' in body
    body = root_client.get("/admin/claims/claim/").content.decode()
    assert f'href="/admin/audit/case/{case.pk}/">Timeline</a>' in body


def test_no_timeline_link_without_permission(client, case_world):
    staff = h.grant(UserFactory(email="viewer@example.com", role="staff"), "cases.view_case", "claims.view_claim")
    client.force_login(staff)
    body = client.get(f"/admin/cases/case/{case_world['case'].pk}/change/").content.decode()
    assert "/admin/audit/case/" not in body
    assert ">Timeline</a>" not in client.get("/admin/claims/claim/").content.decode()


def test_without_union_support_the_branches_give_the_same_page(root, subscriber, other_subscriber, monkeypatch):
    """SQLite (the local demo database) cannot LIMIT inside a UNION; the fallback must read the same rows."""
    case = CaseFactory()
    for i in range(4):
        h.claim_event(case=case, when=h.at(i), to_user=subscriber)
        h.claim_event(case=case, when=h.at(i + 10), action="released", from_user=subscriber, actor=other_subscriber)
        h.claim_event(case=case, when=h.at(i + 20), to_user=other_subscriber, actor=subscriber)
    union = timeline_for_user(user_id=subscriber.pk, viewer=root, kinds=["claim"], page_size=5)
    monkeypatch.setattr(connection.features, "supports_slicing_ordering_in_compound", False)
    fallback = timeline_for_user(user_id=subscriber.pk, viewer=root, kinds=["claim"], page_size=5)
    assert [(e.kind, e.pk) for e in fallback.entries] == [(e.kind, e.pk) for e in union.entries]
    assert fallback.next_cursor == union.next_cursor
    assert len(union.entries) == 5 and union.entries[0].at == h.at(23)
