"""Finding masked values in response bodies, in every form a template or serializer could write them."""

import html
import json


def leaked(body: str, secrets: list[str]) -> list[str]:
    """Secrets found raw, HTML-escaped or JSON-escaped in body."""
    found = []
    for secret in secrets:
        forms = {secret, html.escape(secret), html.escape(secret, quote=False), json.dumps(secret)[1:-1]}
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        if any(form and form in body for form in forms):
            found.append(secret)
    return found
