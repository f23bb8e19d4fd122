"""One statement as a server-side prepared statement, for the few queries every API request pays for.

Django's psycopg cursors bind parameters on the client (they quote each value into the SQL text in Python) and
PostgreSQL parses and plans that text on every call. On the claim path that conversion alone cost about a sixth of
the worker's CPU. Here the statement is prepared once per connection (psycopg keeps the handle) and parameters
travel separately. Everything else is as through Django's cursor: the per-request health check, database errors
as Django's exceptions, a broken atomic block refused, and the statement logged when queries are (so tests'
query counts see it).
"""

import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connections


def fetchone_prepared(sql: str, params: Sequence[Any], *, using: str = "default") -> tuple[Any, ...] | None:
    """Run `sql` (%s placeholders, PostgreSQL only) as a prepared statement; its first row, or None."""
    rows = _run(sql, params, using=using, one=True)
    return rows[0] if rows else None


def fetchall_prepared(sql: str, params: Sequence[Any], *, using: str = "default") -> list[tuple[Any, ...]]:
    """Run `sql` (%s placeholders, PostgreSQL only) as a prepared statement; all its rows."""
    return _run(sql, params, using=using, one=False)


def _run(sql: str, params: Sequence[Any], *, using: str, one: bool) -> list[tuple[Any, ...]]:
    db = connections[using]
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_no_broken_transaction()
    start = time.monotonic()
    with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        if one:
            row = cursor.fetchone()
            rows = [row] if row is not None else []
        else:
            rows = cursor.fetchall()
    if db.queries_logged:
        # "prepared" lets a benchmark replay the statement as the application ran it.
        entry = {"sql": f"{sql} -- {tuple(params)!r}", "time": f"{time.monotonic() - start:.3f}"}
        db.queries_log.append({**entry, "prepared": (sql, tuple(params))})
    return rows
