"""Realistic-looking court filings for demo cases (a notice of default, a lis pendens…), generated with reportlab.

The demo command stores what `demo_document_files_for` returns as Document rows and files. Everything here is
fictional; the sensitive values come from the case itself, so owners see them and the masking hides them.
"""

import io
from datetime import date, timedelta
from typing import Any

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.pdfgen import canvas

from cases.models import Document

DemoFile = tuple[str, str, bytes, int]

_LENDERS = ("First Coastal Bank, N.A.", "Keystone Mortgage Trust 2019-4", "Lakeshore Federal Savings")
_TRUSTEES = ("Meridian Trustee Services, LLC", "Pacific Default Services, Inc.", "Atlas Foreclosure Trustee Corp.")


def _money(cents: int | None) -> str:
    return f"${(cents or 0) / 100:,.2f}"


def _owners(case: Any) -> list[str]:
    names = [c.name for c in case.contacts.all() if c.relation in ("owner", "co_owner")]
    return names or ["the record owner(s)"]


class _Doc:
    """A tiny page-flowing writer: header per page, wrapped paragraphs, page numbers."""

    def __init__(self, title: str, court: str) -> None:
        self.buffer = io.BytesIO()
        self.pdf = canvas.Canvas(self.buffer, pagesize=LETTER)
        self.pdf.setTitle(title)
        self.pdf.setAuthor("JSN demo data")
        self.title = title
        self.court = court
        self.pages = 0
        self._new_page()

    def _new_page(self) -> None:
        if self.pages:
            self.pdf.showPage()
        self.pages += 1
        width, height = LETTER
        self.pdf.setFont("Times-Bold", 11)
        self.pdf.drawCentredString(width / 2, height - 0.8 * inch, self.court.upper())
        self.pdf.setFont("Times-Bold", 15)
        self.pdf.drawCentredString(width / 2, height - 1.15 * inch, self.title.upper())
        self.pdf.line(inch, height - 1.3 * inch, width - inch, height - 1.3 * inch)
        self.pdf.setFont("Times-Roman", 9)
        self.pdf.drawRightString(width - inch, 0.6 * inch, f"Page {self.pages}")
        self.y = height - 1.7 * inch

    def paragraph(self, text: str, *, bold: bool = False, size: int = 11, gap: float = 8) -> None:
        font = "Times-Bold" if bold else "Times-Roman"
        max_width = LETTER[0] - 2 * inch
        line = ""
        lines = []
        for word in text.split():
            candidate = f"{line} {word}".strip()
            if self.pdf.stringWidth(candidate, font, size) > max_width and line:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
        for text_line in lines:
            if self.y < 1.0 * inch:
                self._new_page()
            self.pdf.setFont(font, size)
            self.pdf.drawString(inch, self.y, text_line)
            self.y -= size * 1.35
        self.y -= gap

    def page_break(self) -> None:
        self._new_page()

    def finish(self) -> tuple[bytes, int]:
        self.pdf.showPage()
        self.pdf.save()
        return self.buffer.getvalue(), self.pages


def _notice_of_default(case: Any, owners: list[str], lender: str, trustee: str) -> tuple[bytes, int]:
    recorded = (case.filing_date or date(2026, 6, 1)) - timedelta(days=30)
    doc = _Doc("Notice of Default and Election to Sell", f"County Recorder, {case.county} County, {case.state}")
    doc.paragraph(f"Recording requested by {trustee}. When recorded mail to: {trustee}.", size=9)
    doc.paragraph(f"Trustee sale no. {case.case_number}    APN: {case.parcel_number or 'unassigned'}", bold=True)
    doc.paragraph(
        "IMPORTANT NOTICE: IF YOUR PROPERTY IS IN FORECLOSURE BECAUSE YOU ARE BEHIND IN YOUR PAYMENTS, IT MAY BE "
        "SOLD WITHOUT ANY COURT ACTION, and you may have the legal right to bring your account in good standing "
        "by paying all of your past due payments plus permitted costs and expenses within the time permitted by law.",
        bold=True,
    )
    doc.paragraph(
        f"As of {recorded:%B %d, %Y}, the amount in default is {_money(case.amount_owed_cents)}, and will increase "
        "until your account becomes current. While your property is in foreclosure, you still must pay other "
        "obligations (such as insurance and taxes) required by your note and deed of trust or mortgage."
    )
    doc.paragraph(
        f"NOTICE IS HEREBY GIVEN that {trustee} is the duly appointed trustee under a deed of trust executed by "
        f"{' and '.join(owners)}, as trustor(s), to secure obligations in favor of {lender}, as beneficiary, "
        f"covering the real property commonly known as {case.street}, {case.city}, {case.state} {case.zip_code}."
    )
    doc.paragraph(
        "A breach of, and default in, the obligations for which such deed of trust is security has occurred in "
        "that payment has not been made of the installments of principal and interest which became due, together "
        "with late charges, advances, and all subsequent installments, taxes, and insurance premiums."
    )
    doc.page_break()
    doc.paragraph("Declaration of compliance", bold=True, size=12)
    doc.paragraph(
        "The mortgage servicer has contacted the borrower to assess the borrower's financial situation and explore "
        "options for the borrower to avoid foreclosure, or has tried with due diligence to contact the borrower as "
        "required by statute. The undersigned declares under penalty of perjury that the foregoing is true."
    )
    doc.paragraph(f"Dated: {recorded:%B %d, %Y}")
    doc.paragraph(f"{trustee}, as Trustee — by: Authorized Signer", bold=True)
    return doc.finish()


def _lis_pendens(case: Any, owners: list[str], lender: str) -> tuple[bytes, int]:
    filed = case.filing_date or date(2026, 6, 1)
    doc = _Doc("Notice of Lis Pendens", f"In the Circuit Court of {case.county} County, {case.state}")
    doc.paragraph(f"Case no. {case.case_number}", bold=True)
    doc.paragraph(f"{lender}, Plaintiff, v. {', '.join(owners)}, et al., Defendants.", bold=True)
    doc.paragraph(
        "TO DEFENDANTS ABOVE NAMED AND ALL OTHERS WHOM IT MAY CONCERN: YOU ARE NOTIFIED of the institution of this "
        "action by the Plaintiff against you seeking to foreclose a mortgage on the following property in "
        f"{case.county} County, {case.state}:"
    )
    doc.paragraph(
        f"Property address: {case.street}, {case.city}, {case.state} {case.zip_code}. "
        f"Parcel identification number: {case.parcel_number or 'to be determined'}.",
        bold=True,
    )
    doc.paragraph(
        "The legal description of the property is that set forth in the mortgage recorded in the official records "
        "of the county, to which reference is made for all purposes, together with all improvements, fixtures, "
        "easements and appurtenances."
    )
    doc.paragraph(f"Unpaid principal balance claimed: {_money(case.amount_owed_cents)}, plus interest and costs.")
    doc.page_break()
    doc.paragraph("Certificate of filing", bold=True, size=12)
    doc.paragraph(
        f"I HEREBY CERTIFY that this notice was filed with the Clerk of the Court on {filed:%B %d, %Y} and recorded "
        "in the official records of the county. Any person claiming an interest in the surplus from the sale, if "
        "any, other than the property owner as of the date of the lis pendens must file a claim within 60 days "
        "after the sale."
    )
    doc.paragraph("Clerk of the Circuit Court — by: Deputy Clerk", bold=True)
    doc.page_break()
    doc.paragraph("Service list", bold=True, size=12)
    for contact in case.contacts.all():
        doc.paragraph(f"{contact.name} ({contact.get_relation_display()}) — {contact.mailing_address or 'address'}")
    return doc.finish()


def demo_document_files_for(case: Any) -> list[DemoFile]:
    """(kind, title, pdf bytes, page count) for a case's demo documents; titles name the case number."""
    owners = _owners(case)
    lender = _LENDERS[case.pk % len(_LENDERS)] if case.pk else _LENDERS[0]
    trustee = _TRUSTEES[case.pk % len(_TRUSTEES)] if case.pk else _TRUSTEES[0]
    nod, nod_pages = _notice_of_default(case, owners, lender, trustee)
    lis, lis_pages = _lis_pendens(case, owners, lender)
    return [
        (Document.Kind.NOTICE_OF_DEFAULT, f"Notice of default — {case.case_number}", nod, nod_pages),
        (Document.Kind.LIS_PENDENS, f"Lis pendens — {case.case_number}", lis, lis_pages),
    ]
