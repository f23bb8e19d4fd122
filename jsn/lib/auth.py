"""API authentication: DRF's session and token authentication, cheaper on the requests that do not use them."""

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from jsn.lib.postgresql.prepared import fetchone_prepared


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's, minus its work on requests that carry no session cookie (token clients): without the cookie the
    session is empty and DRF's would load it, resolve the lazy user to AnonymousUser and return None. Nothing else
    sets request.user here (AuthenticationMiddleware reads the session only)."""

    def authenticate(self, request: Any) -> tuple[Any, None] | None:
        if settings.SESSION_COOKIE_NAME not in request._request.COOKIES:
            return None
        return super().authenticate(request)


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, exactly as DRF's, looked up with one precompiled statement.

    DRF builds `Token.objects.select_related("user").get(key=…)` through the ORM on every API request; compiling
    that query cost about as much CPU as the rest of a claim. The statement here is built once per process from the
    models' own columns (every concrete field of the user, so `request.user` is a complete row), prepared once per
    connection, and the objects are made with `from_db`, as the ORM would. PostgreSQL only; elsewhere DRF's own
    lookup. Same refusals as DRF's: "Invalid token." / "User inactive or deleted."."""

    _sql: str | None = None
    _user_fields: tuple[str, ...] = ()

    @classmethod
    def _statement(cls) -> str:
        if cls._sql is None:
            user_model = get_user_model()
            fields = tuple(f.attname for f in user_model._meta.concrete_fields)
            qn = connections[router.db_for_read(Token)].ops.quote_name
            columns = ", ".join(f"u.{qn(f.column)}" for f in user_model._meta.concrete_fields)
            # Identifiers from the models' metadata, quoted; the key is a parameter.
            cls._sql = (
                f"SELECT t.{qn('created')}, {columns} FROM {qn(Token._meta.db_table)} t"  # noqa: S608
                f" JOIN {qn(user_model._meta.db_table)} u ON u.{qn(user_model._meta.pk.column)} = t.{qn('user_id')}"
                f" WHERE t.{qn('key')} = %s"
            )
            cls._user_fields = fields
        return cls._sql

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        db = router.db_for_read(Token)
        if connections[db].vendor != "postgresql":
            # Elsewhere (SQLite) raw rows would need the ORM's value converters (datetimes come back naive): DRF's.
            return super().authenticate_credentials(key)
        # psycopg returns every user column as the ORM would (aware datetimes included): no converters needed.
        row = fetchone_prepared(self._statement(), [key], using=db)  # prepared once per connection
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = get_user_model().from_db(db, self._user_fields, row[1:])
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(db, ("key", "user_id", "created"), (key, user.pk, row[0]))
        token.user = user
        return user, token
