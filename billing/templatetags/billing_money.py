from django import template

from billing.pdf import money as _money

register = template.Library()


@register.simple_tag
def money(cents: int, currency: str) -> str:
    """Integer cents as "1,234.50 USD" — no floats on the way."""
    return _money(cents, currency)
