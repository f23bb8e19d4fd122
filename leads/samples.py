"""Sample lead PDFs generated with reportlab, for the demo, the fake Dialfire server, tests and the benchmark."""

import random
from io import BytesIO

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

CITIES = [
    ("10115", "Berlin"),
    ("20095", "Hamburg"),
    ("80331", "München"),
    ("50667", "Köln"),
    ("60311", "Frankfurt am Main"),
    ("70173", "Stuttgart"),
    ("40213", "Düsseldorf"),
    ("04109", "Leipzig"),
    ("01067", "Dresden"),
    ("90402", "Nürnberg"),
    ("28195", "Bremen"),
    ("30159", "Hannover"),
]
STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Lindenallee", "Schulstraße", "Am Markt", "Kirchplatz"]
NAMES = ["Anna Becker", "Jonas Müller", "Lea Schmidt", "Paul Weber", "Marie Fischer", "Felix Wagner"]


def pdf_from_lines(lines: list[tuple[float, float, str]], *, pages: int = 1, title: str = "Lead") -> bytes:
    """A PDF with each (x, y, text) drawn on the first page; further pages carry filler text."""
    buf = BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=True)
    pdf.setTitle(title)
    for x, y, text in lines:
        pdf.drawString(x, y, text)
    for n in range(1, pages):
        pdf.showPage()
        pdf.drawString(72, 760, f"Seite {n + 1}: Gesprächsnotizen ohne Adresse.")
    pdf.save()
    return buf.getvalue()


def lead_pdf(
    *,
    plz: str,
    city: str,
    name: str = "Anna Becker",
    street: str = "Hauptstraße 1",
    ref: str = "",
    style: str = "address",
    top: float = 720,
    left: float = 72,
) -> bytes:
    """A lead sheet as a call center would send it. `style`: address | label | country."""
    address = {
        "address": f"{plz} {city}",
        "label": f"PLZ: {plz}   Ort: {city}",
        "country": f"D-{plz} {city}",
    }[style]
    lines = [
        (left, top + 60, "Lead-Bogen — Immobilienverkauf"),
        (left, top + 40, f"Referenz: {ref or random.randint(100000, 999999)}"),
        (left, top, f"Eigentümer: {name}"),
        (left, top - 15, street),
        (left, top - 30, address),
        (left, top - 60, "Objekt: Einfamilienhaus, 140 m² Wohnfläche, Baujahr 1978"),
        (left, top - 75, "Gewünschter Rückruf: werktags ab 17 Uhr"),
    ]
    return pdf_from_lines(lines)


def random_lead_pdf(rng: random.Random, *, ref: str | None = None) -> tuple[bytes, str]:
    """A lead PDF for a random city; returns (bytes, plz)."""
    plz, city = rng.choice(CITIES)
    content = lead_pdf(
        plz=plz,
        city=city,
        name=rng.choice(NAMES),
        street=f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
        ref=ref or str(rng.randint(100000, 999999)),
        style=rng.choice(["address", "label", "country"]),
    )
    return content, plz


def image_only_pdf() -> bytes:
    """A 'scanned' page: only drawn shapes, no text layer."""
    buf = BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, invariant=True)
    for i in range(40):
        pdf.rect(60 + (i % 8) * 60, 500 + (i // 8) * 40, 50, 12, fill=1)
    pdf.save()
    return buf.getvalue()


def encrypted_pdf(password: str = "demo-password") -> bytes:  # noqa: S107 — a sample file, not a credential
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(BytesIO(lead_pdf(plz="10115", city="Berlin"))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def corrupt_pdf() -> bytes:
    """A PDF header followed by a truncated body."""
    return lead_pdf(plz="10115", city="Berlin")[:200]
