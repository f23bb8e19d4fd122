"""An invoice as a PDF (reportlab). Only the owner's own invoice reaches here (views check)."""

from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Invoice


def money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency.upper()}"


def invoice_pdf(invoice: Invoice) -> bytes:
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Invoice {invoice.number}", author="JSN", leftMargin=18 * mm, rightMargin=18 * mm
    )
    styles = getSampleStyleSheet()
    story = [
        Paragraph(f"JSN — Invoice {invoice.number}", styles["Title"]),
        Paragraph(f"Billed to: {invoice.user.email}", styles["Normal"]),
        Paragraph(
            f"Service day: {invoice.invoice_date:%Y-%m-%d} · Due: {invoice.due_date:%Y-%m-%d} · "
            f"Status: {invoice.get_status_display()}",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
    ]
    rows = [["Date", "Case", "Description", "Score", "Qty", "Unit", "Amount"]]
    for line in invoice.lines.all():
        rows.append(
            [
                f"{line.service_date:%Y-%m-%d}",
                line.case_label,
                Paragraph(line.description, styles["BodyText"]),
                "" if line.score is None else str(line.score),
                str(line.quantity),
                money(line.unit_amount_cents, invoice.currency),
                money(line.amount_cents, invoice.currency),
            ]
        )
    rows += [
        ["", "", "", "", "", "Subtotal", money(invoice.subtotal_cents, invoice.currency)],
        ["", "", "", "", "", "Tax", money(invoice.tax_cents, invoice.currency)],
        ["", "", "", "", "", "Total", money(invoice.total_cents, invoice.currency)],
    ]
    table = Table(rows, colWidths=[22 * mm, 32 * mm, 55 * mm, 13 * mm, 10 * mm, 21 * mm, 23 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                ("ALIGN", (3, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTNAME", (5, -1), (-1, -1), "Helvetica-Bold"),
                ("LINEABOVE", (5, -3), (-1, -3), 0.5, colors.grey),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return buffer.getvalue()
