"""RELIABILITY.md C1–C4 against real PostgreSQL with real threads (each thread its own connection)."""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction
from django.db.models import Count
from rest_framework.test import APIClient

from accounts.models import User
from cases.models import Case
from claims import services
from claims.models import Claim, ClaimEvent
from claims.services import ClaimBusyError, Outcome
from tests.claims.conftest import backend_pid, run_in_processes, run_in_threads, spawn
from tests.factories import CaseFactory, ClaimFactory, UserFactory

# available_apps: the flush after each transactional test truncates only these apps' tables (a full flush
# of ~100 tables costs seconds per test on a busy 2-core machine).
CLAIM_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "accounts", "cases", "claims", "billing"]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, available_apps=CLAIM_APPS)]


@pytest.fixture(autouse=True)
def warm_url_conf() -> None:
    """Import every view before threads start, so no thread's first request pays for it inside a timed wait."""
    APIClient().get("/api/v3/claims/count")


CALLERS = 32  # RELIABILITY C1's 32 concurrent callers, each a process of its own (run_in_processes says why)
ATTEMPTS = 1024
CASES = 200
USERS = 40
LIMIT = 3


def make_world() -> tuple[list[int], list[User]]:
    cases = Case.objects.bulk_create(
        CaseFactory.build(case_number=f"C1-{i}", county="Broward", street=f"{i} Race St") for i in range(CASES)
    )
    users = [UserFactory(email=f"racer{i}@example.com", claim_limit=LIMIT) for i in range(USERS)]
    return [c.pk for c in cases], users


def storm(call: Callable[[User, list[int]], Any], case_ids: list[int], users: list[User]) -> list[Any]:
    """ATTEMPTS claim calls from CALLERS concurrent callers: mostly single cases, every 8th a bulk of three."""

    def work(caller_no: int) -> list[Any]:
        rng = random.Random(caller_no)
        answers = []
        for n in range(ATTEMPTS // CALLERS):
            user = rng.choice(users)
            ids = rng.sample(case_ids, 3) if n % 8 == 7 else [rng.choice(case_ids)]
            answers.append(call(user, ids))
        return answers

    return [a for per_caller in run_in_processes(CALLERS, work) for a in per_caller]


def damage_report() -> dict[str, int]:
    """What a race would leave behind: double owners, users over limit, cases out of step with claims."""
    double_owners = (
        Claim.objects.filter(status="active").values("case_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    per_user = Counter(Claim.objects.filter(status="active").values_list("user_id", flat=True))
    over_limit = sum(1 for n in per_user.values() if n > LIMIT)
    owner_by_case = dict(Claim.objects.filter(status="active").values_list("case_id", "user_id"))
    out_of_step = sum(
        1
        for case_id, assigned in Case.objects.values_list("id", "assigned_to_id")
        if owner_by_case.get(case_id) != assigned
    )
    return {"double_owners": double_owners, "over_limit": over_limit, "out_of_step": out_of_step}


def service_call(user: User, ids: list[int]) -> list[str]:
    return [o.outcome.value for o in services.claim_cases(user=user, case_ids=ids).outcomes]


def test_c1_claim_storm_through_the_service(claim_path):
    case_ids, users = make_world()
    answers = storm(service_call, case_ids, users)
    outcomes = Counter(o for a in answers for o in a)
    assert damage_report() == {"double_owners": 0, "over_limit": 0, "out_of_step": 0}
    assert set(outcomes) <= {"claimed", "already_claimed", "limit_reached"}, outcomes
    claimed = Claim.objects.filter(status="active").count()
    assert outcomes["claimed"] == claimed > 0
    assert ClaimEvent.objects.filter(action="claimed").count() == claimed


def test_c1_claim_storm_through_the_api(claim_path):
    case_ids, users = make_world()
    clients: dict[int, APIClient] = {}  # per caller: each caller process fills its own copy

    def api_call(user: User, ids: list[int]) -> int:
        if user.pk not in clients:
            clients[user.pk] = APIClient()
            clients[user.pk].force_authenticate(user)
        api = clients[user.pk]
        if len(ids) == 1:
            return api.post(f"/api/v3/cases/{ids[0]}/claim").status_code
        return api.post("/api/v3/cases/claim", {"case_ids": ids}, format="json").status_code

    statuses = Counter(storm(api_call, case_ids, users))
    assert damage_report() == {"double_owners": 0, "over_limit": 0, "out_of_step": 0}
    assert set(statuses) <= {200, 201, 409}, statuses  # never a 5xx, never a lock timeout
    assert statuses[201] > 0 and statuses[409] > 0


def test_c1_goes_red_without_the_user_lock(monkeypatch):
    """The same storm on the ORM path with `_lock_user` replaced by a plain read (the case-lock-only design
    RELIABILITY.md measured): users end up over their limit. The pricing seam sleeps 5 ms inside the critical
    section in this test only, so the race window is wide enough to show on any machine, not just a lucky one. (The
    widening cannot help the real service: with the user row locked, one user's claims run one at a time.)"""
    monkeypatch.setattr(services, "_single_claim_in_sql", lambda case_ids: False)
    real_quote = services.pricing_quote_for

    def slow_quote(*, score: int):
        time.sleep(0.005)
        return real_quote(score=score)

    monkeypatch.setattr(services, "pricing_quote_for", slow_quote)
    monkeypatch.setattr(
        services, "_lock_user", lambda *, user_id: User.objects.only("id", "claim_limit", "email").get(pk=user_id)
    )
    case_ids, users = make_world()
    storm(service_call, case_ids, users)
    report = damage_report()
    assert report["double_owners"] == 0  # the case lock and the unique index still hold...
    assert report["over_limit"] > 0, report  # ...but the per-user limit does not


@pytest.fixture
def claim_function_copy() -> Any:
    """make(name, user_lock=…, widen=…): a copy of the claim function (migration claims 0004) under another name,
    optionally without its user lock and with a 5 ms sleep after the limit check; dropped after the test."""
    made: list[str] = []

    def make(name: str, *, user_lock: bool, widen: bool) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_functiondef('claims_claim_case'::regproc)")
            definition = cursor.fetchone()[0]
        edits = [("public.claims_claim_case(", f"public.{name}(")]
        if not user_lock:
            edits.append(("       FOR UPDATE OF usr;  -- the user lock", ";  -- the user lock, removed"))
        if widen:
            edits.append(("    -- 3. The price", "    PERFORM pg_sleep(0.005);\n    -- 3. The price"))
        for old, new in edits:
            assert definition.count(old) == 1, f"the claim function no longer contains {old!r}"
            definition = definition.replace(old, new)
        with connection.cursor() as cursor:
            cursor.execute(definition)
        made.append(name)
        return name

    yield make
    with connection.cursor() as cursor:
        for name in made:
            cursor.execute(f"DROP FUNCTION {name}({CLAIM_FUNCTION_ARGS})")


CLAIM_FUNCTION_ARGS = (
    "bigint, bigint, timestamptz, timestamptz, date, boolean, boolean, bigint, integer[], integer, text"
)


def service_call_or_busy(user: User, ids: list[int]) -> list[str]:
    """For the broken copy only: without its user lock it takes the case before the user, against the lock order.
    Its claim INSERT's foreign-key check (FOR KEY SHARE on the user) then waits for a user row that a concurrent ORM
    path holds while that path waits for the copy's case: deadlocks and lock waits, answered `busy`. A refusal is
    not the damage this test looks for; it only must not stop the storm."""
    try:
        return service_call(user, ids)
    except services.ClaimBusyError:
        return ["busy"]


def test_c1_goes_red_without_the_user_lock_in_the_claim_function(monkeypatch, claim_function_copy):
    """PostgreSQL's one-round-trip path: the same storm against a copy of the claim function whose user row is read
    without FOR UPDATE, with 5 ms between the limit check and the insert: users end up over their limit."""
    name = claim_function_copy("claims_claim_case_no_user_lock", user_lock=False, widen=True)
    monkeypatch.setattr(services, "CLAIM_CASE_FUNCTION", name)
    case_ids, users = make_world()
    storm(service_call_or_busy, case_ids, users)
    report = damage_report()
    assert report["double_owners"] == 0  # the case lock and the unique index still hold...
    assert report["over_limit"] > 0, report  # ...but the per-user limit does not


def test_c1_the_widened_claim_function_with_its_user_lock_stays_green(monkeypatch, claim_function_copy):
    """The control for the test above: the same 5 ms widening with the user lock kept breaks nothing."""
    name = claim_function_copy("claims_claim_case_widened", user_lock=True, widen=True)
    monkeypatch.setattr(services, "CLAIM_CASE_FUNCTION", name)
    case_ids, users = make_world()
    storm(service_call, case_ids, users)
    assert damage_report() == {"double_owners": 0, "over_limit": 0, "out_of_step": 0}


def relation_locks(pid: int) -> set[tuple[str, str, bool]]:
    """(table, mode, granted) of the relation-level locks backend `pid` holds or waits for."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, l.mode, l.granted FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.locktype = 'relation'",
            [pid],
        )
        return set(cursor.fetchall())


def blocking_pids(pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_blocking_pids(%s)", [pid])
        return cursor.fetchone()[0]


def holder_takes_the_orm_path(monkeypatch) -> None:
    """The holder pauses inside the ORM path (its pricing seam); everyone else keeps the path under test."""
    real = services._single_claim_in_sql
    monkeypatch.setattr(
        services,
        "_single_claim_in_sql",
        lambda case_ids: threading.current_thread().name != "holder" and real(case_ids),
    )


def wait_until_waiting_on_lock(pid: int, timeout: float = 1.5) -> dict[str, Any]:
    """Poll pg_stat_activity until backend `pid` waits on a lock; return its row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type, wait_event, state, query FROM pg_stat_activity WHERE pid = %s", [pid]
            )
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return {"wait_event_type": row[0], "wait_event": row[1], "state": row[2], "query": row[3]}
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on a lock")


def hold_inside_claim(monkeypatch, holder_name: str) -> tuple[threading.Event, threading.Event]:
    """Make the thread called holder_name stop inside claim_cases, after its locks, before commit."""
    inside, release = threading.Event(), threading.Event()
    real_quote = services.pricing_quote_for

    def quote(*, score: int):
        if threading.current_thread().name == holder_name:
            inside.set()
            assert release.wait(10)
        return real_quote(score=score)

    monkeypatch.setattr(services, "pricing_quote_for", quote)
    return inside, release


def test_c2_deterministic_interleave_one_winner_loser_gets_409(monkeypatch, claim_path):
    case = CaseFactory()
    first, second = UserFactory(), UserFactory()
    holder_takes_the_orm_path(monkeypatch)
    inside, release = hold_inside_claim(monkeypatch, "holder")
    results: dict[str, Any] = {}
    pids: dict[str, int] = {}

    def holder() -> None:
        pids["holder"] = backend_pid()
        results["holder"] = services.claim_cases(user=first, case_ids=[case.pk]).outcomes[0].outcome

    def contender() -> None:
        pids["contender"] = backend_pid()
        api = APIClient()
        api.force_authenticate(second)
        results["contender"] = api.post(f"/api/v3/cases/{case.pk}/claim")

    t1 = spawn(holder, "holder")
    assert inside.wait(5), "thread 1 never reached the inside of the claim"
    t2 = spawn(contender, "contender")
    while "contender" not in pids:
        time.sleep(0.005)
    waiting = wait_until_waiting_on_lock(pids["contender"])
    # Thread 2 is queued behind thread 1's row lock on the case. On PostgreSQL's one-round-trip path the claim
    # function found the case held, wrote nothing and handed over to the ORM path, which queues for it.
    assert blocking_pids(pids["contender"]) == [pids["holder"]]
    assert "FOR UPDATE" in waiting["query"] and "cases_case" in waiting["query"]
    assert ("cases_case", "RowShareLock", True) in relation_locks(pids["contender"])
    release.set()
    t1.join()
    t2.join()
    assert results["holder"] == Outcome.CLAIMED
    assert results["contender"].status_code == 409
    assert results["contender"].json()["code"] == "already_claimed"
    assert list(Claim.objects.filter(case=case).values_list("user_id", "status")) == [(first.pk, "active")]


def test_c2_same_user_second_claim_waits_on_the_user_row_and_hits_the_limit(monkeypatch, claim_path):
    user = UserFactory(claim_limit=1)
    a, b = CaseFactory.create_batch(2)
    holder_takes_the_orm_path(monkeypatch)
    inside, release = hold_inside_claim(monkeypatch, "holder")
    results: dict[str, Any] = {}
    pids: dict[str, int] = {}

    def holder() -> None:
        pids["holder"] = backend_pid()
        results["holder"] = services.claim_cases(user=user, case_ids=[a.pk]).outcomes[0].outcome

    def contender() -> None:
        pids["contender"] = backend_pid()
        api = APIClient()
        api.force_authenticate(user)
        results["contender"] = api.post(f"/api/v3/cases/{b.pk}/claim")

    t1 = spawn(holder, "holder")
    assert inside.wait(5)
    t2 = spawn(contender, "contender")
    while "contender" not in pids:
        time.sleep(0.005)
    waiting = wait_until_waiting_on_lock(pids["contender"])
    assert blocking_pids(pids["contender"]) == [pids["holder"]]
    # The user row, not the (different) case, serialises them: the contender holds no lock on cases_case yet.
    assert blocking_pids(pids["contender"]) == [pids["holder"]]
    locks = relation_locks(pids["contender"])
    assert ("accounts_user", "RowShareLock", True) in locks
    assert not any(table == "cases_case" for table, _, _ in locks), locks
    if claim_path == "orm":
        assert "accounts_user" in waiting["query"] and "FOR UPDATE" in waiting["query"]
    else:  # the claim function's first statement, which locks the user row
        assert "claims_claim_case(" in waiting["query"]
    release.set()
    t1.join()
    t2.join()
    assert results["holder"] == Outcome.CLAIMED
    assert (results["contender"].status_code, results["contender"].json()["code"]) == (409, "limit_reached")
    assert Claim.objects.filter(user=user, status="active").count() == 1


def test_c3_api_maps_a_unique_index_conflict_to_409_not_500(caplog, claim_path):
    """A bypassing writer inserts an active claim in an open transaction; the API claim waits behind it,
    then hits the unique index once it commits. The service retries once and answers 409, never 500.

    The writer checks its foreign keys at once (SET CONSTRAINTS ALL IMMEDIATE): Django's deferred FK checks
    would otherwise take their key-share lock on the case at COMMIT, behind the claim's FOR UPDATE, and
    PostgreSQL would break that deadlock by killing one side (the API answers that with 423 `busy`)."""
    case = CaseFactory()
    intruder, claimer = UserFactory(), UserFactory()
    inserted, commit = threading.Event(), threading.Event()
    pids: dict[str, int] = {}
    results: dict[str, Any] = {}

    def bypass() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            ClaimFactory(case=case, user=intruder)
            inserted.set()
            assert commit.wait(10)

    def claim() -> None:
        pids["claimer"] = backend_pid()
        api = APIClient()
        api.force_authenticate(claimer)
        results["claim"] = api.post(f"/api/v3/cases/{case.pk}/claim")

    t1 = spawn(bypass, "bypass")
    assert inserted.wait(5)
    t2 = spawn(claim, "claimer")
    while "claimer" not in pids:
        time.sleep(0.005)
    wait_until_waiting_on_lock(pids["claimer"])
    commit.set()
    t1.join()
    t2.join()
    assert results["claim"].status_code == 409
    assert results["claim"].json()["code"] == "already_claimed"
    assert list(Claim.objects.filter(case=case).values_list("user_id", flat=True)) == [intruder.pk]
    assert "unique active-claim conflict, retrying once" in caplog.text  # the IntegrityError path ran


def test_c4_a_case_held_locked_answers_quickly_with_423_and_leaves_no_stuck_connections(claim_path):
    case = CaseFactory()
    users = [UserFactory() for _ in range(20)]
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Case.objects.select_for_update().get(pk=case.pk)
            locked.set()
            done.wait(5)  # a ~5 s hold: longer than any claim may wait

    holder = spawn(hold, "holder")
    assert locked.wait(5)
    started = time.monotonic()

    def attempt(i: int) -> tuple[int, str, float]:
        # Each thread's database connection is opened before its clock starts: a web worker keeps its connection
        # (CONN_MAX_AGE), so opening one is no part of a claim's answer time, while 20 opened at once on a busy
        # 2-core machine took up to ~0.9 s and made this test flaky.
        connection.ensure_connection()
        t0 = time.monotonic()
        if i % 2:  # half through the API, half through the service
            api = APIClient()
            api.force_authenticate(users[i])
            response = api.post(f"/api/v3/cases/{case.pk}/claim")
            return response.status_code, response.json()["code"], time.monotonic() - t0
        try:
            services.claim_cases(user=users[i], case_ids=[case.pk])
        except ClaimBusyError as exc:
            return 423, exc.code, time.monotonic() - t0
        return 200, "claimed?", time.monotonic() - t0

    answers = run_in_threads(20, attempt)
    all_answered = time.monotonic() - started
    done.set()
    holder.join()
    assert {(status, code) for status, code, _ in answers} == {(423, "busy")}
    # RELIABILITY C4: every answer within 2 s. A claim waits at most CLAIM_WAIT_MS (1 s) for locked rows.
    assert max(elapsed for _, _, elapsed in answers) < 2.0, answers
    assert all_answered < 2.5
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND (state LIKE 'idle in transaction%%' OR wait_event_type = 'Lock')"
        )
        assert cursor.fetchone()[0] == 0
    # The lock gone, the case claims normally.
    assert services.claim_cases(user=users[0], case_ids=[case.pk]).outcomes[0].outcome == Outcome.CLAIMED
