"""Django's PostgreSQL backend, with a cheaper connection health check and working prepared statements.

CONN_HEALTH_CHECKS makes Django check a persistent connection before the first query of each request; Django's
PostgreSQL backend does that with `SELECT 1`, one round trip on every request that touches the database. A server
that goes away — restart, `pg_terminate_backend`, a crashed backend — tells the client first: it sends a FATAL
message and closes the socket, or the kernel closes it. So an idle connection whose socket has nothing to read is
usable, and only one with something waiting (that message, EOF, or a rare asynchronous notice) is asked `SELECT 1`.

Django opens psycopg connections with `prepare_threshold=None`, which turns server-side prepared statements off
altogether — `execute(…, prepare=True)` included. The few statements every API request pays for ask for preparing
explicitly (jsn/lib/postgresql/prepared.py), so the threshold is set out of reach instead: those are prepared once
per connection, and Django's own statements, which never ask, stay unprepared as Django intends.
"""

import select
from typing import Any

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper

# Executions before psycopg prepares a statement on its own: never, in practice. Only `prepare=True` prepares.
PREPARE_ONLY_WHEN_ASKED = 2**31 - 1


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        if connection.prepare_threshold is None:  # Django's default; an OPTIONS["prepare_threshold"] is kept
            connection.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
        return connection

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            readable, _, _ = select.select([conn.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        if not readable:
            return True  # quiet since its last answer: the server has neither spoken nor hung up
        return super().is_usable()  # something arrived unasked: let SELECT 1 tell a notice from a goodbye
