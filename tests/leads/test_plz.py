"""The PLZ extractor against generated lead PDFs, and a fuzz run that must never crash."""

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leads import plz, samples
from leads.samples import lead_pdf, pdf_from_lines

ONE = [
    # (description, pdf bytes, expected plz)
    ("address block top left", lead_pdf(plz="10115", city="Berlin"), "10115"),
    ("address block bottom", lead_pdf(plz="20095", city="Hamburg", top=140), "20095"),
    ("address block right column", lead_pdf(plz="80331", city="München", left=330), "80331"),
    ("label style", lead_pdf(plz="50667", city="Köln", style="label"), "50667"),
    ("country prefix", lead_pdf(plz="04109", city="Leipzig", style="country"), "04109"),
    ("leading zero", lead_pdf(plz="01067", city="Dresden"), "01067"),
    ("city with 'am'", lead_pdf(plz="60311", city="Frankfurt am Main"), "60311"),
    ("city with 'im'", lead_pdf(plz="79098", city="Freiburg im Breisgau"), "79098"),
    ("city with brackets", lead_pdf(plz="15230", city="Frankfurt (Oder)"), "15230"),
    ("hyphenated city", lead_pdf(plz="01099", city="Dresden-Neustadt"), "01099"),
    ("umlaut city", lead_pdf(plz="90402", city="Nürnberg"), "90402"),
    ("Postleitzahl label", pdf_from_lines([(72, 700, "Postleitzahl: 28195"), (72, 680, "Ort: Bremen")]), "28195"),
    ("PLZ without colon", pdf_from_lines([(72, 700, "PLZ 30159 Hannover")]), "30159"),
    ("lowercase plz label", pdf_from_lines([(72, 700, "plz: 70173")]), "70173"),
    ("D - with spaces", pdf_from_lines([(72, 700, "D - 40213 Düsseldorf")]), "40213"),
    ("DE- prefix", pdf_from_lines([(72, 700, "DE-45127 Essen")]), "45127"),
    ("same PLZ twice", pdf_from_lines([(72, 700, "10115 Berlin"), (72, 500, "Objekt in 10115 Berlin")]), "10115"),
    (
        "same PLZ as label and address",
        pdf_from_lines([(72, 700, "PLZ: 20095"), (72, 680, "Mönckebergstraße 7, 20095 Hamburg")]),
        "20095",
    ),
    ("inline after street", pdf_from_lines([(72, 700, "Hauptstraße 5, 53111 Bonn")]), "53111"),
    (
        "with phone and order numbers",
        pdf_from_lines([(72, 720, "Tel. 030 12345678"), (72, 700, "Auftrag 98765"), (72, 680, "67059 Ludwigshafen")]),
        "67059",
    ),
    (
        "amount in euro is not a PLZ",
        pdf_from_lines([(72, 720, "Preisvorstellung 45000 Euro"), (72, 700, "24103 Kiel")]),
        "24103",
    ),
    ("address on page one of two", samples.pdf_from_lines([(72, 700, "99084 Erfurt")], pages=2), "99084"),
    ("tiny font far right", pdf_from_lines([(480, 60, "18055 Rostock")]), "18055"),
    ("PLZ at page top edge", pdf_from_lines([(40, 820, "66111 Saarbrücken")]), "66111"),
]

NONE_OR_SEVERAL = [
    ("no address at all", pdf_from_lines([(72, 700, "Rückruf erbeten, keine Adresse genannt.")]), []),
    ("only a 5-digit reference", pdf_from_lines([(72, 700, "Referenz 12345")]), []),
    ("only a price", pdf_from_lines([(72, 700, "Kaufpreis 25000 Euro")]), []),
    ("invalid 00xxx code", pdf_from_lines([(72, 700, "00123 Nirgendwo")]), []),
    ("01000 is below the lowest PLZ", pdf_from_lines([(72, 700, "01000 Nirgendwo")]), []),
    ("six digits", pdf_from_lines([(72, 700, "123456 Berlin")]), []),
    ("empty page", pdf_from_lines([]), []),
    ("scanned-like, image only", samples.image_only_pdf(), []),
    (
        "two addresses",
        pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "Zweitwohnsitz: 80331 München")]),
        ["10115", "80331"],
    ),
    (
        "owner and property in different cities",
        pdf_from_lines([(72, 700, "Eigentümer: 50667 Köln"), (300, 700, "Objekt: PLZ 53111")]),
        ["50667", "53111"],
    ),
    (
        "three candidates",
        pdf_from_lines([(72, 700, "D-01067 Dresden"), (72, 680, "04109 Leipzig"), (72, 660, "PLZ: 09111")]),
        ["01067", "04109", "09111"],
    ),
]


@pytest.mark.parametrize(("desc", "content", "expected"), ONE, ids=[c[0] for c in ONE])
def test_exactly_one_plz_is_used(desc, content, expected):
    result = plz.extract(content)
    assert result.plz == expected, (desc, result.candidates)
    first = result.candidates[0]
    # What matched and where is kept for staff: the text, its page and offset, and the words around it.
    assert expected in first.matched
    assert first.page == 1
    assert result.text[first.offset : first.offset + 5] == expected
    assert expected in first.context


@pytest.mark.parametrize(("desc", "content", "expected"), NONE_OR_SEVERAL, ids=[c[0] for c in NONE_OR_SEVERAL])
def test_none_or_several_goes_to_review(desc, content, expected):
    result = plz.extract(content)
    assert result.plz is None, desc
    assert result.distinct == expected


def test_at_least_thirty_generated_pdfs():
    assert len(ONE) + len(NONE_OR_SEVERAL) >= 30


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (samples.encrypted_pdf(), plz.PdfEncrypted),
        (samples.corrupt_pdf(), plz.PdfCorrupt),
        (b"", plz.PdfCorrupt),
        (b"hello, not a pdf", plz.PdfCorrupt),
        (b"%PDF-1.4\n" + b"\x00" * 500, plz.PdfCorrupt),
    ],
    ids=["encrypted", "truncated", "empty", "not-a-pdf", "garbage-after-header"],
)
def test_unreadable_pdfs_raise_a_clear_error(content, error):
    with pytest.raises(error) as info:
        plz.extract(content)
    assert info.value.reason


def test_candidates_are_serialisable_with_position():
    result = plz.extract(pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "80331 München")]))
    rows = [c.as_dict() for c in result.candidates]
    assert [r["plz"] for r in rows] == ["10115", "80331"]
    assert rows[1]["offset"] > rows[0]["offset"]
    assert set(rows[0]) == {"plz", "matched", "kind", "page", "offset", "context"}


_VALID = lead_pdf(plz="10115", city="Berlin")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes_never_crash(data):
    for content in (data, b"%PDF-1.4\n" + data):
        try:
            result = plz.extract(content)
        except plz.PdfUnreadable as exc:
            assert exc.reason
        else:
            assert result.plz is None or len(result.plz) == 5


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(_VALID) - 1), st.binary(min_size=1, max_size=64))
def test_fuzz_damaged_valid_pdf_never_crashes(pos, junk):
    content = _VALID[:pos] + junk + _VALID[pos + len(junk) :]
    with contextlib.suppress(plz.PdfUnreadable):
        plz.extract(content)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=4))
def test_fuzz_text_never_crashes_and_finds_only_five_digit_codes(pages):
    result = plz.extract_from_text(pages)
    for c in result.candidates:
        assert len(c.plz) == 5 and c.plz.isascii() and c.plz.isdigit() and not c.plz.startswith("00")
        assert pages[c.page - 1][c.offset : c.offset + 5] == c.plz
