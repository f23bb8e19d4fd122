"""Stamp "Licensed to <e-mail> · <date> · JSN" on every page of a PDF. No ORM; file objects in, file object out.

Pages are read one at a time from a seekable source and the result is written to a spooled temporary file (kept
in memory up to SPOOL_MAX_BYTES, on disk beyond), so the caller can stream it. bench/documents.py measures the
peak memory for a 200-page document.
"""

import io
import tempfile
from datetime import date
from typing import IO

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
)
from reportlab.lib.colors import Color
from reportlab.pdfgen import canvas

SPOOL_MAX_BYTES = 8 * 1024 * 1024
STAMP_NAME = "JSNLicence"
FONT = "Helvetica-Bold"
FONT_SIZE = 9
# Dark red at 55% opacity: readable on white and on scanned grey, without hiding the text under it.
INK = Color(0.55, 0.05, 0.05, alpha=0.55)


class WatermarkError(Exception):
    """The source could not be read as a PDF."""


def watermark_text(*, email: str, on: date) -> str:
    return f"Licensed to {email} · {on.isoformat()} · JSN"


def _overlay(text: str, width: float, height: float) -> PdfReader:
    """A one-page PDF of the page's size with the stamp along the bottom and across the middle."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(width, height))
    pdf.setFillColor(INK)
    pdf.setFont(FONT, FONT_SIZE)
    pdf.drawCentredString(width / 2, 14, text)
    pdf.drawCentredString(width / 2, height - 18, text)
    pdf.saveState()
    pdf.translate(width / 2, height / 2)
    pdf.rotate(35)
    pdf.setFont(FONT, max(10.0, min(width, height) / 34))
    pdf.setFillColor(Color(0.55, 0.05, 0.05, alpha=0.18))
    pdf.drawCentredString(0, 0, text)
    pdf.restoreState()
    pdf.showPage()
    pdf.save()
    buffer.seek(0)
    return PdfReader(buffer)


def _stream(writer: PdfWriter, data: bytes) -> IndirectObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def _form_xobject(writer: PdfWriter, overlay: PdfReader) -> IndirectObject:
    """The overlay page as a Form XObject in writer, drawn on each page with one `Do`."""
    page = overlay.pages[0]
    form = DecodedStreamObject()
    form.set_data(page.get_contents().get_data())
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([FloatObject(v) for v in page.mediabox]),
            NameObject("/Resources"): page["/Resources"].clone(writer),
        }
    )
    return writer._add_object(form)


def stamp_pdf(source: IO[bytes], *, text: str) -> IO[bytes]:
    """Return a spooled file holding source with text stamped on every page, positioned at 0.

    The stamp is one Form XObject drawn after each page's own content, which is wrapped in q/Q and never
    decoded: the cost per page is a few small objects, whatever the page holds (scans, fonts).
    """
    try:
        reader = PdfReader(source)
        if reader.is_encrypted:
            raise WatermarkError("The PDF is encrypted.")
        writer = PdfWriter()
        save_state = _stream(writer, b"q\n")
        forms: dict[tuple[float, float], IndirectObject] = {}
        draws: dict[tuple[float, float, float, float], IndirectObject] = {}
        for source_page in reader.pages:
            page = writer.add_page(source_page)
            # Fold /Rotate into the content so the stamp lands upright on the page as displayed.
            if page.rotation:
                page.transfer_rotation_to_content()
            box = page.cropbox
            left, bottom = round(float(box.left), 2), round(float(box.bottom), 2)
            size = (round(float(box.width), 1), round(float(box.height), 1))
            if size not in forms:
                forms[size] = _form_xobject(writer, _overlay(text, *size))
            if (*size, left, bottom) not in draws:
                draws[(*size, left, bottom)] = _stream(
                    writer, f"Q\nq 1 0 0 1 {left} {bottom} cm /{STAMP_NAME} Do Q\n".encode()
                )
            resources = page.get("/Resources")
            resources = resources.get_object() if resources is not None else DictionaryObject()
            page[NameObject("/Resources")] = resources
            xobjects = resources.get("/XObject")
            xobjects = xobjects.get_object() if xobjects is not None else DictionaryObject()
            resources[NameObject("/XObject")] = xobjects
            xobjects[NameObject(f"/{STAMP_NAME}")] = forms[size]
            contents = page.get("/Contents")
            if contents is None:
                parts: list = []
            elif isinstance(contents.get_object(), ArrayObject):
                parts = list(contents.get_object())
            elif isinstance(contents, IndirectObject):
                parts = [contents]
            else:
                parts = [writer._add_object(contents)]
            page[NameObject("/Contents")] = ArrayObject([save_state, *parts, draws[(*size, left, bottom)]])
        writer.add_metadata({"/JSNLicensedTo": text})
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # noqa: SIM115 — the response closes it
        writer.write(out)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise WatermarkError(str(error)) from error
    out.seek(0)
    return out
