from datetime import timedelta

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest

# Warn on the failed log-ins that leave this many attempts or fewer before the lockout (never earlier: a warning
# on every typo would be noise).
WARN_WHEN_ATTEMPTS_LEFT = 2
ATTEMPTS_LEFT_WARNING = "{attempts} left before this account is locked {duration}."


def lockout_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The account a login attempt targets, however the login form named it (allauth: `login`, admin: `username`).

    Lockouts are keyed on this alone, never on the client's address, so rotating IPs cannot reset them.
    """
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username") or credentials.get("login")
    if not value and request is not None and request.method == "POST":
        value = request.POST.get("login") or request.POST.get("username") or request.POST.get("email")
    return value.strip().lower() if value else None


def lockout_duration_text(cool_off: timedelta | None) -> str:
    """How long a lockout lasts, as the warning says it: "for 1 hour", "for 30 minutes", "until staff unlock it"."""
    if not cool_off:
        return "until JSN staff unlock it"
    minutes = round(cool_off.total_seconds() / 60)
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"for {hours} hour{'s' if hours != 1 else ''}"
    if minutes >= 1:
        return f"for {minutes} minute{'s' if minutes != 1 else ''}"
    seconds = max(round(cool_off.total_seconds()), 1)
    return f"for {seconds} second{'s' if seconds != 1 else ''}"


def attempts_left_warning(request: HttpRequest | None) -> str:
    """After a failed log-in, how many attempts remain before django-axes locks the account, or "" when there are
    more than WARN_WHEN_ATTEMPTS_LEFT (or axes did not count this request).

    axes' handler stores the failure count it just computed on the request (`axes_failures_since_start`, counted per
    submitted address, AXES_LOCKOUT_PARAMETERS): reading it costs no query and counts an address that has no
    account exactly like one that has, so the warning tells nothing the lockout itself would not.
    """
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None or getattr(request, "axes_locked_out", False):
        return ""
    left = get_failure_limit(request, None) - failures
    if not 1 <= left <= WARN_WHEN_ATTEMPTS_LEFT:
        return ""
    attempts = f"{left} attempt{'s' if left != 1 else ''}"
    return ATTEMPTS_LEFT_WARNING.format(attempts=attempts, duration=lockout_duration_text(get_cool_off(request)))
