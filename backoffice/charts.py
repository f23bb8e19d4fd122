"""Server-rendered SVG charts for the back office: pure functions from numbers to markup.

No JavaScript (the site's CSP forbids inline scripts, and a chart needs none): hover text comes from SVG <title>
elements, colours from presentation attributes (not style), text uses currentColor so the admin's light and dark
themes both work. Every label is escaped here; callers mark the returned markup safe.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

PRIMARY = "#417690"  # the Django admin's own blue
SECONDARY = "#e08e45"
MUTED = "#79aec8"
GRID = "#8a8a8a"

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£"}


def money(cents: int, currency: str, *, compact: bool = False) -> str:
    """12345, "usd" → "$123.45"; compact: "$123", "$1.2k", "$3.4M" (axis labels)."""
    symbol = CURRENCY_SYMBOLS.get(currency.lower())
    sign = "-" if cents < 0 else ""
    units = abs(cents) / 100
    if compact:
        if units >= 1_000_000:
            text = f"{units / 1_000_000:.1f}M".replace(".0M", "M")
        elif units >= 1_000:
            text = f"{units / 1_000:.1f}k".replace(".0k", "k")
        else:
            text = f"{units:.0f}"
    else:
        whole, rest = divmod(abs(cents), 100)
        text = f"{whole:,}.{rest:02d}"
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {currency.upper()}"


def nice_ceiling(value: float) -> int:
    """The smallest whole number of the form 1, 2, 2.5, 5 × 10ⁿ at or above value (at least 1): a round axis step."""
    if value <= 1:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value and candidate == int(candidate):  # counts and cents: whole steps only (not 2.5)
            return int(candidate)
    return 10 ** (exponent + 1)  # pragma: no cover - the loop ends at 10 × 10ⁿ ≥ value


def ticks(max_value: int, count: int = 4) -> list[int]:
    """Evenly spaced round gridline values from 0 to a round top covering max_value."""
    step = nice_ceiling(max(max_value, 1) / count)
    top = step * math.ceil(max(max_value, 1) / step)
    return list(range(0, top + 1, step))


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[int]
    kind: str = "bar"  # bar | line
    color: str = PRIMARY


def _attrs(**attrs: object) -> str:
    return " ".join(f'{key.rstrip("_").replace("_", "-")}="{escape(str(value))}"' for key, value in attrs.items())


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def time_chart(
    *,
    title: str,
    days: Sequence[date],
    series: Sequence[Series],
    fmt: Callable[[int], str] = str,
    axis_fmt: Callable[[int], str] | None = None,
    width: int = 720,
    height: int = 220,
) -> str:
    """Bars and/or lines over days (one value per day per series), with a y grid, month labels and a hover text
    per day naming every series' value."""
    axis_fmt = axis_fmt or fmt
    left, right, top, bottom = 56, 12, 12, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(days)
    peak = max((max(s.values, default=0) for s in series), default=0)
    grid = ticks(peak)
    y_top = grid[-1]
    slot = plot_w / max(n, 1)

    def y(value: int) -> float:
        return top + plot_h - (max(value, 0) / y_top) * plot_h

    parts = [
        f'<svg class="bo-chart" {_attrs(viewBox=f"0 0 {width} {height}", role="img", aria_label=title)}'
        ' xmlns="http://www.w3.org/2000/svg" width="100%" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for value in grid:
        gy = y(value)
        parts.append(
            f"<line {_attrs(x1=left, x2=width - right, y1=f'{gy:.1f}', y2=f'{gy:.1f}', stroke=GRID)}"
            ' stroke-opacity="0.25" stroke-width="1"/>'
        )
        parts.append(
            f"<text {_attrs(x=left - 8, y=f'{gy + 4:.1f}', text_anchor='end', fill='currentColor')}"
            f' font-size="11" fill-opacity="0.7">{escape(axis_fmt(value))}</text>'
        )
    for index, day in enumerate(days):
        if index == 0 or day.day == 1:
            x = left + index * slot
            parts.append(
                f'<text {_attrs(x=f"{x:.1f}", y=height - 8, fill="currentColor")} font-size="11" fill-opacity="0.7">'
                f"{escape(_day_label(day))}</text>"
            )
            if index:
                parts.append(
                    f"<line {_attrs(x1=f'{x:.1f}', x2=f'{x:.1f}', y1=top, y2=top + plot_h, stroke=GRID)}"
                    ' stroke-opacity="0.2" stroke-dasharray="2 3"/>'
                )
    bars = [s for s in series if s.kind == "bar"]
    bar_w = max(slot / max(len(bars), 1) - (1 if slot > 3 else 0), 0.8)
    for b, s in enumerate(bars):
        for index, value in enumerate(s.values):
            if value <= 0:
                continue
            x = left + index * slot + b * bar_w
            parts.append(
                f"<rect {_attrs(x=f'{x:.1f}', y=f'{y(value):.1f}', width=f'{bar_w:.1f}')}"
                f" {_attrs(height=f'{top + plot_h - y(value):.1f}', fill=s.color, rx=1)}/>"
            )
    for s in series:
        if s.kind != "line" or not s.values:
            continue
        points = " ".join(f"{left + (index + 0.5) * slot:.1f},{y(value):.1f}" for index, value in enumerate(s.values))
        parts.append(
            f'<polyline {_attrs(points=points, fill="none", stroke=s.color)} stroke-width="2"'
            ' stroke-linejoin="round" stroke-linecap="round"/>'
        )
    if peak == 0:
        parts.append(
            f"<text {_attrs(x=left + plot_w / 2, y=top + plot_h / 2, text_anchor='middle', fill='currentColor')}"
            ' font-size="13" fill-opacity="0.6">No data in this period</text>'
        )
    # One invisible column per day carries the hover text (SVG <title>: a native tooltip, no script).
    for index, day in enumerate(days):
        label = f"{day:%a} {_day_label(day)} {day.year} — " + " · ".join(
            f"{s.label}: {fmt(s.values[index])}" for s in series
        )
        parts.append(
            f"<rect {_attrs(x=f'{left + index * slot:.1f}', y=top, width=f'{slot:.1f}', height=plot_h)}"
            f' fill="transparent"><title>{escape(label)}</title></rect>'
        )
    parts.append(
        f"<line {_attrs(x1=left, x2=width - right, y1=top + plot_h, y2=top + plot_h, stroke=GRID)}"
        ' stroke-opacity="0.6"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class BarRow:
    label: str
    value: int
    note: str = ""  # shown after the value, e.g. "2 subscribers"
    highlight: bool = False  # drawn in the secondary colour (e.g. leads nobody subscribes to)


def bar_list_chart(*, title: str, rows: Sequence[BarRow], width: int = 420, row_height: int = 24) -> str:
    """Horizontal bars, one row per label, longest first as given."""
    label_w, value_w = 64, 150
    bar_max = width - label_w - value_w
    height = max(len(rows), 1) * row_height + 8
    peak = max((row.value for row in rows), default=0) or 1
    parts = [
        f'<svg class="bo-chart" {_attrs(viewBox=f"0 0 {width} {height}", role="img", aria_label=title)}'
        ' xmlns="http://www.w3.org/2000/svg" width="100%" preserveAspectRatio="xMinYMin meet">',
        f"<title>{escape(title)}</title>",
    ]
    if not rows:
        parts.append(
            f"<text {_attrs(x=width / 2, y=height / 2 + 4, text_anchor='middle', fill='currentColor')}"
            ' font-size="13" fill-opacity="0.6">No data in this period</text>'
        )
    for index, row in enumerate(rows):
        top = 4 + index * row_height
        bar = max(row.value / peak * bar_max, 2)
        color = SECONDARY if row.highlight else PRIMARY
        text = f"{row.value}" + (f" · {row.note}" if row.note else "")
        parts.append(
            f"<g><title>{escape(f'{row.label}: {text}')}</title>"
            f'<text {_attrs(x=0, y=top + row_height / 2 + 4, fill="currentColor")} font-size="12"'
            f' font-family="monospace">{escape(row.label)}</text>'
            f"<rect {_attrs(x=label_w, y=top + 4, width=f'{bar:.1f}', height=row_height - 8, fill=color, rx=2)}/>"
            f"<text {_attrs(x=f'{label_w + bar + 6:.1f}', y=top + row_height / 2 + 4, fill='currentColor')}"
            f' font-size="12">{escape(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
