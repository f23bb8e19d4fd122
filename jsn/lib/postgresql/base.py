"""Django's PostgreSQL backend, with a cheaper connection health check.

CONN_HEALTH_CHECKS makes Django check a persistent connection before the first query of each request; Django's
PostgreSQL backend does that with `SELECT 1`, one round trip on every request that touches the database. A server
that goes away — restart, `pg_terminate_backend`, a crashed backend — tells the client first: it sends a FATAL
message and closes the socket, or the kernel closes it. So an idle connection whose socket has nothing to read is
usable, and only one with something waiting (that message, EOF, or a rare asynchronous notice) is asked `SELECT 1`.
"""

import select

from django.db.backends.postgresql.base import DatabaseWrapper as PostgreSQLDatabaseWrapper


class DatabaseWrapper(PostgreSQLDatabaseWrapper):
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
