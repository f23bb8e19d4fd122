"""jsn.lib.postgresql: the backend's health check (no round trip for a quiet connection; a connection the server
ended is replaced before the request's first query instead of failing it) and prepared statements that behave as
Django's cursor does (logged, errors as Django's exceptions, a broken atomic block refused)."""

import time

import psycopg
import pytest
from django.db import connection, connections

# available_apps: the flush after each test truncates only these tables (a full flush costs seconds per test).
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(
        transaction=True, available_apps=["django.contrib.contenttypes", "django.contrib.auth", "accounts"]
    ),
]


def test_the_backend_is_ours_on_postgresql():
    assert type(connections["default"]).__module__ == "jsn.lib.postgresql.base"
    assert connection.vendor == "postgresql" and connection.health_check_enabled


def test_a_quiet_connection_is_usable_without_asking_the_server(monkeypatch):
    connection.ensure_connection()

    def no_round_trip(*args, **kwargs):
        raise AssertionError("the health check sent a query")

    monkeypatch.setattr(connection.connection, "cursor", no_round_trip)
    assert connection.is_usable()


def test_a_connection_the_server_ended_is_replaced_at_the_next_request():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        old_pid = cursor.fetchone()[0]
    params = {k: v for k, v in connection.get_connection_params().items() if k in ("host", "port", "user", "dbname")}
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    deadline = time.monotonic() + 5
    while connection.is_usable() and time.monotonic() < deadline:  # the goodbye reaches our socket
        time.sleep(0.01)
    assert not connection.is_usable()
    # What Django does when a request starts (close_old_connections), then the request's first query.
    connection.close_if_unusable_or_obsolete()
    connection.close_if_health_check_failed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != old_pid


def test_a_prepared_statement_is_logged_and_answers_like_the_cursor():
    from django.test.utils import CaptureQueriesContext

    from jsn.lib.postgresql.prepared import fetchone_prepared

    with CaptureQueriesContext(connection) as ctx:
        for n in range(3):  # prepared on the first call, reused after
            assert fetchone_prepared("SELECT %s::int + 1, %s::text", [n, "x"]) == (n + 1, "x")
        assert fetchone_prepared("SELECT 1 WHERE false", []) is None
    assert len(ctx.captured_queries) == 4
    assert ctx.captured_queries[0]["sql"] == "SELECT %s::int + 1, %s::text -- (0, 'x')"


def test_a_prepared_statement_is_prepared_on_the_server_and_djangos_own_are_not():
    """Django opens connections with psycopg's preparing switched off (prepare_threshold=None), which silently
    ignored prepare=True: the hot statements were parsed and planned on every request."""
    from jsn.lib.postgresql.prepared import fetchone_prepared

    connection.close()  # a new connection: nothing prepared yet
    with connection.cursor() as cursor:
        for _ in range(10):  # far past psycopg's default threshold of 5: Django's statements stay unprepared
            cursor.execute("SELECT %s::int AS djangos_own", [1])
    for n in range(3):
        assert fetchone_prepared("SELECT %s::int AS ours", [n]) == (n,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert prepared == ["SELECT $1::int AS ours"]


def test_prepared_statement_errors_are_djangos_and_a_broken_atomic_block_is_refused():
    from django.db import IntegrityError, transaction
    from django.db.transaction import TransactionManagementError

    from jsn.lib.postgresql.prepared import fetchone_prepared

    not_null = "INSERT INTO accounts_user (id) VALUES (%s)"
    with pytest.raises(IntegrityError):  # psycopg's NotNullViolation, as Django's exception
        fetchone_prepared(not_null, [None])
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic(savepoint=False):
            fetchone_prepared(not_null, [None])
        with pytest.raises(TransactionManagementError):  # as Django's cursor refuses it
            fetchone_prepared("SELECT 1", [])
