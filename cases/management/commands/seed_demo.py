"""manage.py seed_demo — demo accounts and a few hundred realistic cases. Safe to run on every start.

Everything is derived from a fixed seed, so every run generates the same cases; a case that already exists
(same state, county and case number) is left alone, which makes a second run create nothing.
Phone numbers are in the 555-01xx range and e-mail domains are example.com/net/org: reserved for fiction,
so demo data never reaches a real person.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from faker import Faker

from accounts.models import User
from cases.demo_pdfs import demo_document_files_for
from cases.models import UNCLAIMABLE_STAGES, Case, Contact, Document

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = (
    ("staff@jsn.local", User.Role.STAFF, "Sam", "Staff"),
    ("alice@jsn.local", User.Role.SUBSCRIBER, "Alice", "Investor"),
    ("bob@jsn.local", User.Role.SUBSCRIBER, "Bob", "Agent"),
    ("carol@jsn.local", User.Role.SUBSCRIBER, "Carol", "Holder"),
)
# Carol starts with these cases claimed (Alice and Bob with none: claims are theirs to make), so the back office's
# claims list, control room, "Release all claims" and reassignment have live claims to work on.
DEMO_HOLDER = "carol@jsn.local"
DEMO_HELD_CLAIMS = 4
STAFF_GROUP = "Staff"
# The back office's models: the demo staff user may work with all of them in the admin.
STAFF_APP_LABELS = ("accounts", "cases", "claims", "billing", "leads", "backoffice", "django_celery_beat")
DEMO_SOURCE = "demo"
DEMO_FAILING_PAYER = "agent.nord@example.com"  # created by seed_leads_demo
SEED = 2026
CASE_COUNT = 300

ERR_NOT_DEMO = (
    "seed_demo creates accounts with a published password. It runs only with DEBUG or DEMO_MODE on; "
    "pass --force to run it anyway."
)


@dataclass(frozen=True)
class County:
    name: str
    cities: dict[str, tuple[str, ...]]  # city → real ZIP codes in it
    area_codes: tuple[str, ...]


# (state, relative weight, value range in dollars, case-number format, counties)
STATES: tuple[tuple[str, int, tuple[int, int], str, tuple[County, ...]], ...] = (
    (
        "FL",
        22,
        (210_000, 680_000),
        "{year}-CA-{n:06d}",
        (
            County(
                "Miami-Dade",
                {"Miami": ("33125", "33142", "33157"), "Hialeah": ("33010", "33012"), "Homestead": ("33030", "33033")},
                ("305", "786"),
            ),
            County(
                "Broward",
                {
                    "Fort Lauderdale": ("33304", "33311"),
                    "Hollywood": ("33020", "33021"),
                    "Pembroke Pines": ("33024", "33027"),
                },
                ("954",),
            ),
            County("Hillsborough", {"Tampa": ("33604", "33610", "33612"), "Brandon": ("33510", "33511")}, ("813",)),
            County("Orange", {"Orlando": ("32805", "32808", "32811"), "Apopka": ("32703", "32712")}, ("407",)),
        ),
    ),
    (
        "CA",
        16,
        (420_000, 1_250_000),
        "{yy}CV{n:06d}",
        (
            County(
                "Los Angeles",
                {
                    "Los Angeles": ("90011", "90003", "90044"),
                    "Long Beach": ("90805", "90813"),
                    "Pasadena": ("91103", "91104"),
                },
                ("213", "323", "562"),
            ),
            County(
                "San Diego",
                {"San Diego": ("92114", "92105"), "Chula Vista": ("91910", "91911"), "Escondido": ("92025", "92027")},
                ("619", "760"),
            ),
            County(
                "Riverside",
                {"Riverside": ("92503", "92504"), "Corona": ("92879", "92882"), "Temecula": ("92591", "92592")},
                ("951",),
            ),
            County("Sacramento", {"Sacramento": ("95823", "95828"), "Elk Grove": ("95624", "95757")}, ("916",)),
        ),
    ),
    (
        "TX",
        14,
        (170_000, 460_000),
        "{year}-{n:05d}",
        (
            County(
                "Harris",
                {"Houston": ("77016", "77028", "77045"), "Pasadena": ("77502", "77506"), "Katy": ("77449", "77494")},
                ("713", "832", "281"),
            ),
            County(
                "Dallas",
                {"Dallas": ("75216", "75217", "75227"), "Garland": ("75040", "75041"), "Irving": ("75060", "75061")},
                ("214", "972"),
            ),
            County("Bexar", {"San Antonio": ("78207", "78211", "78228")}, ("210",)),
            County("Travis", {"Austin": ("78744", "78745", "78753")}, ("512",)),
        ),
    ),
    (
        "NY",
        10,
        (340_000, 980_000),
        "{n:06d}/{year}",
        (
            County("Kings", {"Brooklyn": ("11207", "11212", "11236")}, ("718", "347")),
            County("Queens", {"Jamaica": ("11434", "11433"), "Flushing": ("11355",)}, ("718",)),
            County(
                "Suffolk",
                {"Brentwood": ("11717",), "Huntington": ("11743",), "Central Islip": ("11722",)},
                ("631",),
            ),
            County("Erie", {"Buffalo": ("14211", "14215"), "Cheektowaga": ("14225", "14227")}, ("716",)),
        ),
    ),
    (
        "OH",
        10,
        (85_000, 260_000),
        "CV-{yy}-{n:06d}",
        (
            County(
                "Cuyahoga",
                {"Cleveland": ("44105", "44108", "44120"), "Parma": ("44129", "44134"), "Lakewood": ("44107",)},
                ("216", "440"),
            ),
            County("Franklin", {"Columbus": ("43205", "43207", "43224"), "Westerville": ("43081",)}, ("614",)),
            County("Hamilton", {"Cincinnati": ("45205", "45211", "45237")}, ("513",)),
        ),
    ),
    (
        "AZ",
        9,
        (240_000, 560_000),
        "CV{year}-{n:06d}",
        (
            County(
                "Maricopa",
                {
                    "Phoenix": ("85009", "85031", "85041"),
                    "Mesa": ("85201", "85204"),
                    "Scottsdale": ("85251", "85257"),
                    "Chandler": ("85224", "85225"),
                },
                ("602", "480", "623"),
            ),
            County("Pima", {"Tucson": ("85705", "85706", "85713")}, ("520",)),
        ),
    ),
    (
        "GA",
        8,
        (170_000, 460_000),
        "{yy}CV{n:06d}",
        (
            County(
                "Fulton", {"Atlanta": ("30310", "30311", "30315"), "Sandy Springs": ("30328", "30350")}, ("404", "678")
            ),
            County("DeKalb", {"Decatur": ("30032", "30034")}, ("404", "770")),
            County("Gwinnett", {"Lawrenceville": ("30043", "30044"), "Duluth": ("30096",)}, ("770", "678")),
        ),
    ),
    (
        "IL",
        8,
        (140_000, 420_000),
        "{year}CH{n:05d}",
        (
            County(
                "Cook",
                {"Chicago": ("60617", "60619", "60620", "60628", "60636"), "Evanston": ("60201", "60202")},
                ("312", "773"),
            ),
            County("DuPage", {"Naperville": ("60540", "60565"), "Wheaton": ("60187",)}, ("630",)),
            County("Will", {"Joliet": ("60432", "60435")}, ("815",)),
        ),
    ),
    (
        "NV",
        2,
        (270_000, 560_000),
        "A-{yy}-{n:06d}-C",
        (County("Clark", {"Las Vegas": ("89108", "89110", "89115"), "Henderson": ("89014", "89074")}, ("702",)),),
    ),
    (
        "MI",
        1,
        (55_000, 210_000),
        "{yy}-{n:06d}-CH",
        (County("Wayne", {"Detroit": ("48205", "48219", "48228"), "Dearborn": ("48126",)}, ("313",)),),
    ),
)

STAGE_WEIGHTS = (
    (Case.Stage.LIS_PENDENS, 18),
    (Case.Stage.NOTICE_OF_DEFAULT, 14),
    (Case.Stage.NOTICE_OF_SALE, 18),
    (Case.Stage.AUCTION_SCHEDULED, 32),
    (Case.Stage.SOLD, 8),
    (Case.Stage.REO, 5),
    (Case.Stage.WITHDRAWN, 5),
)
PROPERTY_TYPE_WEIGHTS = (
    (Case.PropertyType.SINGLE_FAMILY, 60),
    (Case.PropertyType.CONDO, 15),
    (Case.PropertyType.TOWNHOUSE, 10),
    (Case.PropertyType.MULTI_FAMILY, 10),
    (Case.PropertyType.LAND, 3),
    (Case.PropertyType.COMMERCIAL, 2),
)
STAGE_DOCUMENT = {
    Case.Stage.LIS_PENDENS: Document.Kind.LIS_PENDENS,
    Case.Stage.NOTICE_OF_DEFAULT: Document.Kind.NOTICE_OF_DEFAULT,
    Case.Stage.NOTICE_OF_SALE: Document.Kind.NOTICE_OF_SALE,
    Case.Stage.AUCTION_SCHEDULED: Document.Kind.NOTICE_OF_SALE,
}
EXTRA_DOCUMENTS = (
    (Document.Kind.MORTGAGE, "Recorded mortgage"),
    (Document.Kind.DEED, "Vesting deed"),
    (Document.Kind.SKIP_TRACE, "Skip-trace report"),
)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([item for item, _ in weighted], weights=[weight for _, weight in weighted])[0]


def demo_cases(*, today: date) -> list[tuple[Case, list[Contact], list[Document]]]:
    """The demo cases with their contacts and documents, unsaved. Same seed → same cases (dates follow today)."""
    rng = random.Random(SEED)
    fake = Faker("en_US")
    fake.seed_instance(SEED)
    now = timezone.now()
    state_weights = [weight for _, weight, *_ in STATES]
    result = []
    used_numbers: set[str] = set()
    for _ in range(CASE_COUNT):
        state, _weight, (low, high), number_format, counties = rng.choices(STATES, weights=state_weights)[0]
        county = rng.choice(counties)
        city = rng.choice(sorted(county.cities))
        stage = _pick(rng, STAGE_WEIGHTS)
        filing_date = today - timedelta(days=rng.randint(20, 540))
        case_number = number_format.format(
            year=filing_date.year, yy=f"{filing_date.year % 100:02d}", n=rng.randint(100, 39_999)
        )
        while case_number in used_numbers:  # numbers are per court; keep them globally unique for clarity
            case_number += "A"
        used_numbers.add(case_number)

        auction_date = None
        if stage == Case.Stage.AUCTION_SCHEDULED:
            auction_date = today + timedelta(days=rng.randint(2, 75))
        elif stage == Case.Stage.NOTICE_OF_SALE:
            auction_date = today + timedelta(days=rng.randint(21, 120))
        elif stage in (Case.Stage.SOLD, Case.Stage.REO):
            auction_date = today - timedelta(days=rng.randint(5, 200))

        property_type = _pick(rng, PROPERTY_TYPE_WEIGHTS)
        # Money in integer cents throughout, as everywhere else in JSN.
        value_dollars = round(rng.randint(low, high), -3)
        if property_type == Case.PropertyType.LAND:
            value_dollars = round(value_dollars * 3 // 10, -3)
        value_cents = value_dollars * 100
        owed_cents = value_cents * rng.randint(35, 108) // 100 // 10_000 * 10_000 + rng.randint(0, 9_999)
        equity = 1 - owed_cents / value_cents  # a ratio for the score, not money
        # Equity drives the score; a near auction adds urgency; noise keeps the spread realistic across 0–100.
        score = 25 + equity * 95 + (10 if stage == Case.Stage.AUCTION_SCHEDULED else 0) + rng.gauss(0, 12)
        if stage in UNCLAIMABLE_STAGES:
            score -= 35
        score = max(0, min(100, round(score)))

        street = fake.street_address()
        case = Case(
            case_number=case_number,
            state=state,
            county=county.name,
            filing_date=filing_date,
            stage=stage,
            auction_date=auction_date,
            street=street,
            city=city,
            zip_code=rng.choice(county.cities[city]),
            parcel_number=f"{rng.randint(1, 99):02d}-{rng.randint(1000, 9999)}-{rng.randint(0, 999):03d}-"
            f"{rng.randint(0, 9999):04d}",
            property_type=property_type,
            estimated_value_cents=value_cents,
            amount_owed_cents=owed_cents,
            score=score,
            status=Case.Status.CLOSED if stage in UNCLAIMABLE_STAGES else Case.Status.OPEN,
            source=DEMO_SOURCE,
            last_verified_at=now - timedelta(hours=rng.randint(1, 24 * 20)),
        )

        property_address = f"{street}, {city}, {state} {case.zip_code}"
        contacts = []
        relations = [Contact.Relation.OWNER, rng.choice([Contact.Relation.CO_OWNER, Contact.Relation.OCCUPANT])]
        relations.append(rng.choice([Contact.Relation.HEIR, Contact.Relation.ATTORNEY]))
        for relation in relations[: rng.choices([1, 2, 3], weights=[45, 40, 15])[0]]:
            phones = [
                f"({rng.choice(county.area_codes)}) 555-01{rng.randint(0, 99):02d}" for _ in range(rng.randint(1, 3))
            ]
            mailing_address = (
                property_address
                if relation != Contact.Relation.ATTORNEY and rng.random() < 0.6
                else fake.address().replace("\n", ", ")
            )
            contacts.append(
                Contact(
                    name=fake.name(),
                    relation=relation,
                    phones=sorted(set(phones)),
                    emails=[fake.safe_email() for _ in range(rng.choices([0, 1, 2], weights=[15, 65, 20])[0])],
                    mailing_address=mailing_address,
                )
            )

        documents = []
        kinds = [(STAGE_DOCUMENT[stage], None)] if stage in STAGE_DOCUMENT else [(Document.Kind.OTHER, None)]
        kinds += rng.sample(EXTRA_DOCUMENTS, rng.randint(0, 2))
        for kind, title in kinds:
            pages = rng.randint(1, 6) if kind != Document.Kind.MORTGAGE else rng.randint(12, 38)
            if title is None:
                # Court filings carry the case number in their title, as recorded documents do (masked for non-owners).
                label = Document.Kind(kind).label if kind != Document.Kind.OTHER else "Court record"
                title = f"{label} — {case_number}"
            documents.append(
                Document(
                    kind=kind,
                    title=title,
                    page_count=pages,
                    size_bytes=pages * rng.randint(38_000, 140_000),
                )
            )
        result.append((case, contacts, documents))
    return result


class Command(BaseCommand):
    help = (
        "Create demo accounts (staff@jsn.local, alice@jsn.local, bob@jsn.local, carol@jsn.local with a few claims)"
        " and ~300 demo cases. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Run even when DEBUG and DEMO_MODE are off")

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        if not (settings.DEBUG or settings.DEMO_MODE or force):
            raise CommandError(ERR_NOT_DEMO)
        with transaction.atomic():
            new_users = self._seed_users()
            new_cases, new_contacts = self._seed_cases()
            new_files = self._seed_document_files()

        self.stdout.write("Demo accounts (DEMO ONLY — never use these credentials in production):")
        for email, role, *_ in DEMO_USERS:
            self.stdout.write(f"  {role.label:<11} {email:<18} password: {DEMO_PASSWORD}")
        if new_users or new_cases:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created {new_users} user(s), {new_cases} case(s), {new_contacts} contact(s), "
                    f"{new_files} document(s) with generated PDFs."
                )
            )
        else:
            self.stdout.write("Demo data already present; nothing new created.")
        # PLZ subscribers and sample lead PDFs; the worker's every-minute job e-mails what is due.
        call_command("seed_leads_demo", no_send=True, stdout=self.stdout)
        self._seed_history()
        self._seed_held_claims()

    def _seed_users(self) -> int:
        created = 0
        group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
        # Re-granted on every run: apps migrated after the first seed bring new permissions.
        group.permissions.add(*Permission.objects.filter(content_type__app_label__in=STAFF_APP_LABELS))
        # Stripe's objects (dj-stripe's lists) to look at; syncing or cancelling at Stripe stays with a superuser.
        stripe_views = Permission.objects.filter(content_type__app_label="djstripe", codename__startswith="view_")
        group.permissions.add(*stripe_views)
        for email, role, first_name, last_name in DEMO_USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email=email,
                    password=DEMO_PASSWORD,
                    role=role,
                    first_name=first_name,
                    last_name=last_name,
                    terms_version=settings.TERMS_VERSION,
                    terms_accepted_at=timezone.now(),
                )
                created += 1
            if role == User.Role.STAFF:
                user.groups.add(group)
            # Verified, so the demo accounts log in at once even where e-mail verification is mandatory.
            EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        return created

    def _seed_history(self) -> None:
        """90 days of (ended) claims, billed by the real billing run: the admin's operations dashboard has charts to
        show. An agent from the leads demo holds the one failed invoice, so Alice and Bob can claim right away."""
        from backoffice.demo import demo_history_seed

        users = list(User.objects.filter(email__in=["alice@jsn.local", "bob@jsn.local", DEMO_FAILING_PAYER]))
        failing = next((user for user in users if user.email == DEMO_FAILING_PAYER), None)
        cases = list(Case.objects.filter(source=DEMO_SOURCE).order_by("pk"))
        history = demo_history_seed(users=users, cases=cases, failing=failing)
        if history.claims:
            self.stdout.write(f"Dashboard history: {history.claims} past claims, {history.invoices} invoices billed.")

    def _seed_held_claims(self) -> None:
        """Carol's claims on the best-scored free demo cases, through the claim service (frozen prices, audit
        events). Once: nothing when she has ever held a claim, so releasing them in the demo sticks
        across restarts."""
        from claims.models import Claim
        from claims.services import ClaimError, Outcome, claim_cases

        holder = User.objects.filter(email=DEMO_HOLDER).first()
        if holder is None or Claim.objects.filter(user=holder).exists():
            return
        free = Case.objects.filter(Case.claimable_now_q(), source=DEMO_SOURCE)
        case_ids = list(free.order_by("-score", "pk").values_list("pk", flat=True)[:DEMO_HELD_CLAIMS])
        try:
            result = claim_cases(user=holder, case_ids=case_ids)
        except ClaimError as exc:  # e.g. Stripe connected and Carol has no card: the demo goes on without
            self.stdout.write(f"{DEMO_HOLDER} claimed nothing: {exc.message}")
            return
        held = [o.case_id for o in result.outcomes if o.outcome == Outcome.CLAIMED]
        if held:
            self.stdout.write(f"{DEMO_HOLDER} holds {len(held)} claimed case(s): " + ", ".join(f"#{i}" for i in held))

    def _seed_document_files(self) -> int:
        """Real PDFs (a notice of default, a lis pendens) for every demo case that has no stored file yet."""
        numbers = [case.case_number for case, _, _ in demo_cases(today=timezone.localdate())]
        with_files = Document.objects.exclude(file="").values("case_id")
        cases = Case.objects.filter(case_number__in=numbers).exclude(pk__in=with_files).prefetch_related("contacts")
        documents: list[Document] = []
        for case in cases:
            for kind, title, content, pages in demo_document_files_for(case):
                document = Document(
                    case=case,
                    kind=kind,
                    title=title,
                    page_count=pages,
                    size_bytes=len(content),
                    content_type="application/pdf",
                )
                document.file.save(f"demo-{case.pk}-{kind}.pdf", ContentFile(content), save=False)
                documents.append(document)
        Document.objects.bulk_create(documents)
        return len(documents)

    def _seed_cases(self) -> tuple[int, int]:
        generated = demo_cases(today=timezone.localdate())
        numbers = [case.case_number for case, _, _ in generated]
        existing = set(Case.objects.filter(case_number__in=numbers).values_list("state", "county", "case_number"))
        missing = [item for item in generated if (item[0].state, item[0].county, item[0].case_number) not in existing]
        if not missing:
            return 0, 0
        cases = Case.objects.bulk_create([case for case, _, _ in missing])  # ids come back on PostgreSQL and SQLite
        contacts: list[Contact] = []
        for case, (_, case_contacts, _documents) in zip(cases, missing, strict=True):
            for contact in case_contacts:
                contact.case = case
            contacts += case_contacts
        Contact.objects.bulk_create(contacts)
        # Documents come from _seed_document_files with real PDFs: a record without a file could not be downloaded.
        return len(cases), len(contacts)
