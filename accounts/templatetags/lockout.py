from datetime import timedelta

from django import template

from accounts.axes import lockout_duration_text

register = template.Library()


@register.filter
def lockout_duration(cool_off: timedelta | None) -> str:
    """axes' cool-off as the lockout page says it: "for 1 hour", "until JSN staff unlock it"."""
    return lockout_duration_text(cool_off)
