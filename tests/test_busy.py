"""jsn.lib.busy: which database errors mean "busy, try again" and how services turn them into their own error."""

import pytest
from django.db import OperationalError, connection, transaction

from jsn.lib.busy import busy_as


class Busy(Exception):
    pass


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_statement_timeout_inside_a_transaction_becomes_the_services_error_and_rolls_back():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE busy_probe (n int)")
    with pytest.raises(Busy) as raised, busy_as(Busy), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("INSERT INTO busy_probe VALUES (1)")
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
    assert isinstance(raised.value.__cause__, OperationalError)  # the database's error stays attached
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM busy_probe")
        assert cursor.fetchone() == (0,)  # the transaction rolled back before the error was translated


@pytest.mark.django_db
def test_other_errors_pass_unchanged():
    broken = OperationalError("server closed the connection unexpectedly")
    with pytest.raises(OperationalError) as raised, busy_as(Busy):
        raise broken
    assert raised.value is broken
    with pytest.raises(ValueError), busy_as(Busy):
        raise ValueError("not a database error")
