from django.http import HttpRequest


def lockout_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """The account a login attempt targets, however the login form named it (allauth: `login`, admin: `username`).

    Lockouts are keyed on this alone, never on the client's address, so rotating IPs cannot reset them.
    """
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username") or credentials.get("login")
    if not value and request is not None and request.method == "POST":
        value = request.POST.get("login") or request.POST.get("username") or request.POST.get("email")
    return value.strip().lower() if value else None
