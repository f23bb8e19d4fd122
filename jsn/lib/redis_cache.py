"""The shared cache (Redis), degrading to "nothing cached" while Redis is unreachable instead of failing requests.

What JSN keeps in the cache is disposable: rate-limit counters (ours and allauth's login limits), the health
check's probe and Beat's heartbeat. With Redis down (RELIABILITY.md R2) reads miss, writes are dropped and `add`
reports success, so allauth's login rate limit lets the attempt through (django-axes' lockout lives in the database
and still counts) instead of answering 500. Counters cannot pretend: `incr` raises CacheUnavailable, and
jsn.lib.ratelimit then counts in the process. Each outage is logged, at most once a minute per process.
"""

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
LOG_EVERY_SECONDS = 60.0


class CacheUnavailable(Exception):
    """A cache operation whose answer cannot be made up (a counter) while the cache is unreachable."""


class ThrottledWarning:
    """logger.warning at most once per `every` seconds, with the number of occurrences since the last one."""

    def __init__(self, log: logging.Logger, message: str, every: float = LOG_EVERY_SECONDS) -> None:
        self.log, self.message, self.every = log, message, every
        self._lock = threading.Lock()
        self._last = 0.0
        self._count = 0

    def __call__(self, exc: BaseException) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if self._last and now - self._last < self.every:
                return
            n, self._count, self._last = self._count, 0, now
        self.log.warning("%s (%s: %s; %d time(s))", self.message, type(exc).__name__, exc, n)

    def reset(self) -> None:
        with self._lock:
            self._last, self._count = 0.0, 0


_warn = ThrottledWarning(logger, "Cache: Redis is unreachable; reads miss and writes are dropped")


class ResilientRedisCache(RedisCache):
    def add(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return True  # as if stored: a lock taken with add() is not held, the caller goes on (fails open)

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return default

    def set(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE as exc:
            _warn(exc)

    def touch(self, key: str, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return False

    def delete(self, key: str, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return False

    def get_many(self, keys: Any, version: int | None = None) -> dict[str, Any]:
        try:
            return super().get_many(keys, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return {}

    def has_key(self, key: str, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return False

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE as exc:
            _warn(exc)
            raise CacheUnavailable(str(exc)) from exc

    def set_many(
        self, data: dict[str, Any], timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list:
        try:
            return super().set_many(data, timeout, version)
        except UNREACHABLE as exc:
            _warn(exc)
            return list(data)  # the keys that were not stored

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        try:
            super().delete_many(keys, version)
        except UNREACHABLE as exc:
            _warn(exc)

    def clear(self) -> bool:
        try:
            return super().clear()
        except UNREACHABLE as exc:
            _warn(exc)
            return False
