from django import template

from claims import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def my_claims_count(context: template.Context) -> int:
    """The header's claims counter: one indexed COUNT for signed-in users, nothing for anyone else."""
    user = getattr(context.get("request"), "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return selectors.active_claim_count(user=user)


@register.filter
def cents(value: int | None) -> str:
    """Integer cents as dollars ("$1,234.50"), with integer arithmetic only: no floats on a money path."""
    if value is None:
        return "—"
    sign = "-" if value < 0 else ""
    value = abs(int(value))
    return f"{sign}${value // 100:,}.{value % 100:02d}"
