"""Read the German postal code (PLZ) out of a lead PDF. Pure: no ORM, no I/O beyond the bytes given.

A PLZ counts only in address context — "12345 Berlin", "PLZ: 12345", "D-12345" — so order numbers, phone
fragments and amounts are not mistaken for one. Exactly one distinct PLZ → use it; none or several → a human
decides (the review queue). Every match is kept with its text, page and offset so staff can see why.
"""

import re
from dataclasses import asdict, dataclass, field
from io import BytesIO

from pypdf import PdfReader

MAX_PAGES = 20  # lead sheets are one or two pages; a huge file must not stall the importer
SNIPPET_CHARS = 2000
CONTEXT_CHARS = 40

ERR_EMPTY = "The file is empty."
ERR_NOT_PDF = "The file is not a PDF."
ERR_ENCRYPTED = "The PDF is encrypted (password protected)."
ERR_CORRUPT = "The PDF is corrupt or unreadable"


class PdfUnreadable(Exception):
    """The bytes cannot be read as a PDF. `reason` is shown to staff on the quarantined lead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PdfEncrypted(PdfUnreadable):
    pass


class PdfCorrupt(PdfUnreadable):
    pass


@dataclass(frozen=True)
class Candidate:
    plz: str
    matched: str  # the text that matched, e.g. "10115 Berlin"
    kind: str  # "label" (PLZ: …), "country" (D-…), "city" (… Berlin)
    page: int  # 1-based
    offset: int  # character offset of the match in that page's text
    context: str  # the text around the match

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Extraction:
    text: str
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def distinct(self) -> list[str]:
        return sorted({c.plz for c in self.candidates})

    @property
    def plz(self) -> str | None:
        """The PLZ when exactly one distinct value was found, else None (→ review)."""
        values = self.distinct
        return values[0] if len(values) == 1 else None

    @property
    def snippet(self) -> str:
        return self.text[:SNIPPET_CHARS]


def pdf_pages_text(content: bytes) -> list[str]:
    """Text of each page. Raises PdfEncrypted or PdfCorrupt; never anything else."""
    if not content:
        raise PdfCorrupt(ERR_EMPTY)
    if b"%PDF-" not in content[:1024]:
        raise PdfCorrupt(ERR_NOT_PDF)
    try:
        reader = PdfReader(BytesIO(content), strict=False)
        if reader.is_encrypted:
            raise PdfEncrypted(ERR_ENCRYPTED)
        pages = []
        for index, page in enumerate(reader.pages):
            if index >= MAX_PAGES:
                break
            pages.append(page.extract_text() or "")
        return pages
    except PdfUnreadable:
        raise
    except RecursionError:
        raise PdfCorrupt(f"{ERR_CORRUPT}: nested too deeply.") from None
    # pypdf raises a wide, undocumented range of errors on damaged input (PdfReadError, ValueError, KeyError,
    # TypeError, AssertionError, zlib.error …); every one of them means "quarantine this file", not "crash".
    except Exception as exc:  # noqa: BLE001
        raise PdfCorrupt(f"{ERR_CORRUPT}: {type(exc).__name__}: {str(exc)[:150]}") from None


_CITY_JOINER = r"(?:am|an|der|im|in|ob|bei|vor|a\.|i\.|d\.)(?= )"  # "Frankfurt am Main", "Freiburg im Breisgau"
_CITY = r"[A-ZÄÖÜ][a-zäöüß]+(?:[\- ](?:" + _CITY_JOINER + r"|[A-ZÄÖÜ][a-zäöüß.]+|\([A-Za-zäöüß .]+\)))*"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("label", re.compile(r"\b(?:PLZ|Postleitzahl)\s*[:.]?\s*(?<![0-9])([0-9]{5})(?![0-9])", re.IGNORECASE)),
    ("country", re.compile(r"(?<![\w-])(?:D|DE)\s?-\s?([0-9]{5})(?![0-9])")),
    ("city", re.compile(r"(?<![0-9.,/\-])([0-9]{5})[ \t]+(" + _CITY + r")")),
]
# Capitalised words that follow five digits without being a place.
_NOT_A_CITY = {
    "Euro",
    "Eur",
    "Einwohner",
    "Stück",
    "Quadratmeter",
    "Kunden",
    "Leads",
    "Mal",
    "Jahre",
    "Tage",
    "Objekte",
    "Punkte",
}


def _valid_plz(value: str) -> bool:
    # German PLZ run from 01001 to 99998; 00xxx and 01000 are not assigned (the same rule as PLZ_VALIDATOR).
    return len(value) == 5 and value.isascii() and value.isdigit() and value >= "01001"


def find_candidates(pages: list[str]) -> list[Candidate]:
    """Every PLZ in address context, in page and reading order, one entry per match position."""
    found: dict[tuple[int, int], Candidate] = {}
    for page_no, text in enumerate(pages, start=1):
        for kind, pattern in _PATTERNS:
            for m in pattern.finditer(text):
                value = m.group(1)
                if not _valid_plz(value):
                    continue
                if kind == "city" and m.group(2).split()[0].split("-")[0] in _NOT_A_CITY:
                    continue
                start = m.start(1)
                key = (page_no, start)
                if key in found:  # "PLZ: 10115 Berlin" matches twice at one place; keep the first kind
                    continue
                lo, hi = max(0, m.start() - CONTEXT_CHARS), min(len(text), m.end() + CONTEXT_CHARS)
                found[key] = Candidate(
                    plz=value,
                    matched=m.group(0).strip(),
                    kind=kind,
                    page=page_no,
                    offset=start,
                    context=" ".join(text[lo:hi].split()),
                )
    return [found[k] for k in sorted(found)]


def extract_from_text(pages: list[str]) -> Extraction:
    return Extraction(text="\n".join(pages), candidates=find_candidates(pages))


def extract(content: bytes) -> Extraction:
    """Read a PDF and find its PLZ candidates. Raises PdfUnreadable (encrypted/corrupt) only."""
    return extract_from_text(pdf_pages_text(content))
