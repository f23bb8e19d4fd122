"""manage.py seed_leads_demo — a few PLZ subscribers and sample lead PDFs (reportlab). Safe to repeat."""

import random

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.services import terms_accept
from cases.management.commands.seed_demo import DEMO_PASSWORD
from leads.models import PlzSubscription
from leads.samples import CITIES, lead_pdf, pdf_from_lines, random_lead_pdf
from leads.services import deliveries_send_due, lead_import_pdf, subscription_grant, subscription_request

AGENTS = [
    ("agent.berlin@example.com", ["10115", "20095"]),
    ("agent.nord@example.com", ["10115", "20095"]),
    ("agent.sued@example.com", ["80331", "10115"]),
]


class Command(BaseCommand):
    help = "Create demo PLZ subscribers and import sample lead PDFs (including one for review and one corrupt)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--leads", type=int, default=12)
        parser.add_argument("--no-send", action="store_true", help="plan deliveries but do not e-mail them")

    def handle(self, *args: object, leads: int, no_send: bool, **options: object) -> None:
        rng = random.Random(42)
        staff = User.objects.filter(is_staff=True).order_by("pk").first()
        with transaction.atomic():
            for email, plzs in AGENTS:
                user, created = User.objects.get_or_create(email=email)
                if created:
                    user.set_password(DEMO_PASSWORD)
                    user.save()
                terms_accept(user=user)
                for plz in plzs:
                    subscription_grant(actor=staff, user=user, plz=plz)
            # One agent asked for a PLZ and waits for payment.
            waiting = User.objects.get(email=AGENTS[0][0])
            if not PlzSubscription.objects.filter(user=waiting, plz="50667").exists():
                subscription_request(user=waiting, plz="50667")
        created = 0
        subscribed = [c for c in CITIES if c[0] in {"10115", "20095", "80331"}]
        for n in range(leads):
            plz, city = rng.choice(subscribed)
            content = lead_pdf(plz=plz, city=city, ref=f"DEMO-{n}", style=rng.choice(["address", "label", "country"]))
            created += lead_import_pdf(content=content, filename=f"demo-lead-{n}.pdf").created
        created += lead_import_pdf(content=random_lead_pdf(rng, ref="DEMO-X")[0], filename="demo-other.pdf").created
        review = pdf_from_lines([(72, 700, "Eigentümer wohnt in 10115 Berlin"), (72, 680, "Objekt: 80331 München")])
        created += lead_import_pdf(content=review, filename="demo-two-plz.pdf").created
        created += lead_import_pdf(content=b"%PDF-1.4 truncated", filename="demo-corrupt.pdf").created
        sent = 0 if no_send else deliveries_send_due().sent
        self.stdout.write(
            self.style.SUCCESS(
                f"Leads demo: {len(AGENTS)} agents ({', '.join(email for email, _ in AGENTS)}; password "
                f"{DEMO_PASSWORD}), {created} new leads, {sent} e-mails sent."
            )
        )
