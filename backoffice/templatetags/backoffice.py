from django import template

from backoffice import charts

register = template.Library()

# Dashboard states → the colour of their badge.
TONES = {
    "ok": "good",
    "running": "info",
    "warning": "warn",
    "late": "warn",
    "stale": "warn",
    "never": "warn",
    "unknown": "warn",
    "failing": "bad",
    "down": "bad",
    "failure": "bad",
    "off": "muted",
    "disabled": "muted",
}


@register.filter
def cents(value: int, currency: str) -> str:
    """{{ 123456|cents:"usd" }} → $1,234.56 (integer cents, no floats)."""
    return charts.money(int(value or 0), currency)


@register.filter
def tone(state: str | None) -> str:
    return TONES.get(state or "", "muted")
