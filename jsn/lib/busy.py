"""Database errors that mean "someone else holds the row right now" — nothing was changed, retrying is safe — not
"the database is broken". One definition for every service that answers them as busy (claims: 423; invoices:
InvoiceBusy; the Stripe sync: left for a retry)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import OperationalError

# lock_timeout (55P03), deadlock (40P01), serialization failure (40001), statement_timeout (57014).
BUSY_SQLSTATES = frozenset({"55P03", "40P01", "40001", "57014"})


def is_busy(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in BUSY_SQLSTATES


@contextmanager
def busy_as(error: Callable[[], Exception]) -> Iterator[None]:
    """Inside: a busy database error is raised as `error()` (chained to it); every other error passes unchanged.

    `with busy_as(ClaimBusyError): with transaction.atomic(): …` — the transaction has rolled back by then."""
    try:
        yield
    except OperationalError as exc:
        if is_busy(exc):
            raise error() from exc
        raise
