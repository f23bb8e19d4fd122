"""backoffice.charts: pure functions from numbers to SVG markup."""

import re
from datetime import date, timedelta
from xml.etree import ElementTree

from backoffice import charts

DAYS = [date(2026, 2, 27) + timedelta(days=n) for n in range(5)]  # Feb 27 … Mar 3


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)  # well-formed XML, or this raises


def test_money():
    assert charts.money(123456, "usd") == "$1,234.56"
    assert charts.money(-505, "eur") == "-€5.05"
    assert charts.money(7, "chf") == "0.07 CHF"
    assert charts.money(123456, "usd", compact=True) == "$1.2k"
    assert charts.money(100_000, "usd", compact=True) == "$1k"
    assert charts.money(250_000_000, "gbp", compact=True) == "£2.5M"
    assert charts.money(4_200, "usd", compact=True) == "$42"


def test_nice_axis():
    assert [charts.nice_ceiling(v) for v in (0, 1, 3, 7, 12, 24, 26, 99, 101)] == [1, 1, 5, 10, 20, 25, 50, 100, 200]
    assert charts.ticks(0) == [0, 1]
    assert charts.ticks(37) == [0, 10, 20, 30, 40]
    assert charts.ticks(45_000) == [0, 20_000, 40_000, 60_000]


def test_time_chart_draws_one_bar_per_positive_day_a_line_and_a_hover_text_per_day():
    svg = charts.time_chart(
        title="Claims <per> day",
        days=DAYS,
        series=[
            charts.Series("New", [1, 0, 3, 2, 0]),
            charts.Series("Held", [4, 4, 7, 9, 8], kind="line", color=charts.SECONDARY),
        ],
        width=500,
        height=200,
    )
    root = parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = [r for r in root.iter(f"{ns}rect") if r.get("fill") == charts.PRIMARY]
    assert len(bars) == 3
    heights = [float(r.get("height")) for r in bars]
    assert heights[1] == max(heights) and abs(heights[1] - 3 * heights[0]) < 0.2  # proportional to 1 and 3
    assert len(root.findall(f"{ns}polyline")) == 1
    assert len(root.find(f"{ns}polyline").get("points").split()) == 5
    hovers = [t.text for t in root.iter(f"{ns}title")][1:]
    assert hovers[2] == "Sun Mar 1 2026 — New: 3 · Held: 7"
    assert root.get("aria-label") == "Claims <per> day"  # escaped in the markup, intact once parsed
    assert "<per>" not in svg
    labels = [t.text for t in root.iter(f"{ns}text")]
    assert "Feb 27" in labels and "Mar 1" in labels  # the first day and each first of a month
    assert labels[:3] == ["0", "5", "10"]  # y axis: 0 to a round top over the highest value (9)


def test_time_chart_without_data_says_so():
    svg = charts.time_chart(title="Revenue", days=DAYS, series=[charts.Series("Billed", [0] * 5)])
    assert "No data in this period" in svg
    parse(svg)


def test_bar_list_chart_escapes_labels_and_highlights():
    svg = charts.bar_list_chart(
        title="Leads",
        rows=[charts.BarRow("10115", 8, "2 subscribers"), charts.BarRow("<b>", 2, "0 subscribers", highlight=True)],
    )
    root = parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    bars = list(root.iter(f"{ns}rect"))
    assert [b.get("fill") for b in bars] == [charts.PRIMARY, charts.SECONDARY]
    assert float(bars[0].get("width")) == 4 * float(bars[1].get("width"))
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert re.search(r"10115: 8 · 2 subscribers", svg)
    assert "No data" in charts.bar_list_chart(title="Leads", rows=[])
