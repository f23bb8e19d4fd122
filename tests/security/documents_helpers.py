"""Stored PDF documents and download links for tests."""

import io
import re

from django.core.files.base import ContentFile
from pypdf import PdfReader
from reportlab.pdfgen import canvas

from cases.models import Document
from tests.factories import DocumentFactory


def make_pdf(pages: int = 2, text: str = "Original content") -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for n in range(pages):
        pdf.drawString(72, 720, f"{text} — page {n + 1}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def stored_document(case, *, pages: int = 2, title: str = "Notice of default", **kwargs) -> Document:
    data = kwargs.pop("data", None) or make_pdf(pages)
    document = DocumentFactory(case=case, title=title, page_count=pages, size_bytes=len(data), **kwargs)
    document.file.save(f"doc-{document.pk}.pdf", ContentFile(data), save=True)
    return document


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]


def token_of(url: str) -> str:
    match = re.search(r"/documents/download/([^/]+)/", url)
    assert match, url
    return match.group(1)


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content
