"""System checks for settings an operator gets wrong without noticing: the site's own address (SITE_URL).

Every e-mail link, Stripe's return URLs and the lead mails are SITE_URL + a path; a wrong one breaks them all
silently. `manage.py check` reports a malformed SITE_URL; `manage.py check --deploy` also warns when it is still a
local address with DEBUG off, or names a host ALLOWED_HOSTS refuses.
"""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.http.request import validate_host

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def _parts(url: str) -> tuple[str, str] | None:
    """(scheme, host as ALLOWED_HOSTS spells it) of a base address, or None when `url` is not one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
        return None
    if parts.path or parts.query or parts.fragment or url.endswith(("?", "#")):
        return None
    host = parts.hostname.rstrip(".")  # a fully qualified name's final dot; Django's host check drops it too
    return parts.scheme, f"[{host}]" if ":" in host else host  # an IPv6 address in brackets, as in ALLOWED_HOSTS


@register(Tags.urls)
def site_url_is_an_address(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if _parts(settings.SITE_URL) is None:
        return [
            Error(
                f"SITE_URL {settings.SITE_URL!r} is not a base address like https://jsn.example.com.",
                hint="Set SITE_URL to the scheme and host (and port) users reach JSN at, without a path.",
                id="jsn.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def site_url_is_public(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    parts = _parts(settings.SITE_URL)
    if parts is None or settings.DEBUG:
        return []
    scheme, host = parts
    warnings = []
    if host in LOCAL_HOSTS:
        warnings.append(
            Warning(
                f"SITE_URL is {settings.SITE_URL}: links in e-mails and Stripe's return URLs point at this machine.",
                hint="Set SITE_URL to JSN's public address, e.g. https://jsn.example.com.",
                id="jsn.W001",
            )
        )
    elif not validate_host(host, settings.ALLOWED_HOSTS):
        warnings.append(
            Warning(
                f"SITE_URL's host {host!r} is not in ALLOWED_HOSTS: every link JSN sends would be answered with 400.",
                hint="Add it to ALLOWED_HOSTS, or correct SITE_URL.",
                id="jsn.W002",
            )
        )
    if scheme != "https" and host not in LOCAL_HOSTS:
        warnings.append(
            Warning(
                f"SITE_URL {settings.SITE_URL} is not https: links in e-mails would send sessions and tokens in clear.",
                hint="Serve JSN over HTTPS and set SITE_URL to its https:// address.",
                id="jsn.W003",
            )
        )
    return warnings
