"""The database backend's health check (jsn.lib.postgresql): no round trip for a quiet connection, and a connection
the server ended is replaced before the request's first query instead of failing it."""

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
