"""The admin home: every figure an operator checks first, gathered in a fixed number of queries."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from backoffice import charts, metrics
from billing.services import billing_time_zone
from jsn.lib import health

CHART_DAYS = 90
# The wide charts' drawing size (SVG units): about their size on a laptop screen, so text stays legible.
WIDE_CHART = {"width": 1160, "height": 240}


@dataclass(frozen=True)
class RevenueChart:
    currency: str
    total_cents: int
    svg: SafeString


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    today: date
    time_zone: str
    month: metrics.BillingSummary
    claims: metrics.ActiveClaimStats
    cases: metrics.CaseStats
    leads: metrics.LeadStats
    plz: tuple[metrics.PlzLeads, ...]
    claim_series: metrics.ClaimSeries
    webhooks: metrics.WebhookHealth
    dialfire: metrics.ImportHealth
    beat: health.Check
    jobs: tuple[metrics.JobStatus, ...]
    revenue_charts: tuple[RevenueChart, ...]
    claims_chart: SafeString
    plz_chart: SafeString

    @property
    def jobs_needing_attention(self) -> int:
        return sum(1 for job in self.jobs if job.state in ("failing", "late"))


def dashboard_build(*, now: datetime | None = None) -> Dashboard:
    """Twelve queries whatever the data size, fifteen when past days' figures are not cached yet or no longer match
    (tests/backoffice/test_dashboard.py lists them)."""
    now = now or timezone.now()
    tz = billing_time_zone()
    today = now.astimezone(tz).date()
    first_day = today - timedelta(days=CHART_DAYS - 1)
    month_first, month_last = metrics.month_bounds(month=today)

    revenue = metrics.revenue_by_day(first_day=first_day, last_day=today)
    claim_series = metrics.claims_by_day(first_day=first_day, last_day=today, now=now)
    plz = metrics.leads_per_plz(since=now - timedelta(days=CHART_DAYS))

    # Chart markup is built from numbers and escaped labels only (backoffice.charts), hence safe to mark.
    revenue_charts = tuple(
        RevenueChart(
            currency=currency,
            total_cents=revenue.total(currency),
            svg=mark_safe(  # noqa: S308
                charts.time_chart(
                    title=f"Billed revenue per day, last {CHART_DAYS} days ({currency.upper()})",
                    days=revenue.days,
                    series=[charts.Series("Billed", values)],
                    fmt=lambda cents, c=currency: charts.money(cents, c),
                    axis_fmt=lambda cents, c=currency: charts.money(cents, c, compact=True),
                    **WIDE_CHART,
                )
            ),
        )
        for currency, values in revenue.by_currency.items()
    )
    if not revenue_charts:
        empty = charts.time_chart(
            title=f"Billed revenue per day, last {CHART_DAYS} days",
            days=revenue.days,
            series=[charts.Series("Billed", [0] * len(revenue.days))],
            **WIDE_CHART,
        )
        revenue_charts = (RevenueChart(settings.DEFAULT_CURRENCY, 0, mark_safe(empty)),)  # noqa: S308
    claims_chart = charts.time_chart(
        title=f"Claims per day, last {CHART_DAYS} days",
        days=claim_series.days,
        series=[
            charts.Series("New claims", claim_series.new, kind="bar", color=charts.MUTED),
            charts.Series("Claims held", claim_series.held, kind="line", color=charts.SECONDARY),
        ],
        **WIDE_CHART,
    )
    plz_chart = charts.bar_list_chart(
        title=f"Leads per PLZ, last {CHART_DAYS} days",
        width=560,
        rows=[
            charts.BarRow(
                label=row.plz,
                value=row.leads,
                note=f"{row.subscribers} subscriber{'s' if row.subscribers != 1 else ''}",
                highlight=row.subscribers == 0,
            )
            for row in plz
        ],
    )
    return Dashboard(
        now=now,
        today=today,
        time_zone=settings.BILLING_TIME_ZONE,
        month=metrics.billing_summary(first_day=month_first, last_day=month_last),
        claims=metrics.active_claim_stats(now=now),
        cases=metrics.case_stats(),
        leads=metrics.lead_stats(now=now),
        plz=plz,
        claim_series=claim_series,
        webhooks=metrics.webhook_health(now=now),
        dialfire=metrics.dialfire_health(now=now),
        beat=health.check_beat(now=now),
        jobs=metrics.job_statuses(),
        revenue_charts=revenue_charts,
        claims_chart=mark_safe(claims_chart),  # noqa: S308
        plz_chart=mark_safe(plz_chart),  # noqa: S308
    )
