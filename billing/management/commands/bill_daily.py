"""manage.py bill_daily — bill every unbilled (user, day) before today (or up to --date)."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from billing.models import BillingRun
from billing.services import BillingSummary, billing_candidates, billing_run, billing_today, billing_window


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from None


def format_cents(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency.upper()}"


class Command(BaseCommand):
    help = (
        "Bill every unbilled (user, day) before today in BILLING_TIME_ZONE. Safe to run any number of times. "
        "--date D bills only day D; --backfill-from D bills from D up to yesterday (or up to --date)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=_day, help="Bill this day only (YYYY-MM-DD).")
        parser.add_argument("--backfill-from", type=_day, help="Bill from this day on (YYYY-MM-DD).")
        parser.add_argument("--dry-run", action="store_true", help="Print what would be billed; write nothing.")
        parser.add_argument(
            "--no-stripe", action="store_true", help="Bill locally only; do not send the new invoices to Stripe."
        )
        parser.add_argument("--user", type=int, help="Bill only this user id.")

    def handle(self, *args: object, **options: object) -> None:
        day: date | None = options["date"]  # type: ignore[assignment]
        since: date | None = options["backfill_from"]  # type: ignore[assignment]
        up_to = day + timedelta(days=1) if day else None
        if day and not since:
            since = day
        if since and day and since > day:
            raise CommandError("--backfill-from must not be after --date.")
        if day and day >= billing_today():
            raise CommandError(f"{day} has not ended yet in the billing time zone; only past days can be billed.")
        user_id: int | None = options["user"]  # type: ignore[assignment]
        dry_run = bool(options["dry_run"])

        window = billing_window(up_to=up_to, since=since)
        total = (
            billing_candidates(first=window.first, last=window.last, user_id=user_id).count()
            if window.first <= window.last
            else 0
        )
        with tqdm(total=total, unit="user", disable=total == 0 or options["verbosity"] == 0) as bar:
            summary = billing_run(
                up_to=up_to,
                since=since,
                user_id=user_id,
                dry_run=dry_run,
                trigger=BillingRun.Trigger.COMMAND,
                progress=bar.update,
                stripe=not options["no_stripe"],
            )
        self._report(summary)
        if summary.failures:
            raise CommandError(f"{len(summary.failures)} user(s) could not be billed; see BillingRunFailure.")

    def _report(self, summary: BillingSummary) -> None:
        if summary.first_day > summary.last_day:
            self.stdout.write("Nothing to bill: no ended day in range.")
            return
        prefix = "DRY RUN — would bill" if summary.dry_run else "Billed"
        self.stdout.write(
            f"{prefix} {summary.first_day}…{summary.last_day}: {summary.users} users, "
            f"{summary.invoices} invoices, {summary.lines} lines"
        )
        for currency, cents in sorted(summary.totals.items()):
            self.stdout.write(f"  {format_cents(cents, currency)}")
        if summary.skipped_locked:
            self.stdout.write(f"  {summary.skipped_locked} user(s) were being billed by another run at the same time")
        for user_id, error in summary.failures:
            self.stderr.write(f"  FAILED user #{user_id}: {error}")
