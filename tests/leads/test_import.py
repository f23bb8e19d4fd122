"""L1: the same PDF is one lead however often and however concurrently it arrives; bad files are quarantined."""

import threading

import pytest
from django.db import connection

from leads.models import Delivery, Lead, LeadEvent
from leads.samples import corrupt_pdf, encrypted_pdf, lead_pdf, pdf_from_lines
from leads.services import lead_import_pdf


@pytest.mark.django_db
def test_same_pdf_three_times_is_one_lead():
    content = lead_pdf(plz="10115", city="Berlin", ref="4711")
    results = [lead_import_pdf(content=content, filename="a.pdf") for _ in range(3)]
    assert [r.created for r in results] == [True, False, False]
    assert Lead.objects.count() == 1
    assert len({r.lead.pk for r in results}) == 1


@pytest.mark.django_db
def test_same_dialfire_id_is_one_lead_even_with_other_bytes():
    first = lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="1"), filename="a.pdf", dialfire_id="c-1")
    again = lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="2"), filename="a.pdf", dialfire_id="c-1")
    assert again.created is False
    assert again.lead.pk == first.lead.pk
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_same_pdf_under_two_dialfire_ids_is_one_lead():
    content = lead_pdf(plz="10115", city="Berlin", ref="9")
    lead_import_pdf(content=content, filename="a.pdf", dialfire_id="c-1")
    assert lead_import_pdf(content=content, filename="a.pdf", dialfire_id="c-2").created is False
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_pdf_is_stored_privately_and_text_and_candidates_kept(settings):
    content = lead_pdf(plz="80331", city="München", ref="77")
    lead = lead_import_pdf(content=content, filename="lead.pdf").lead
    assert lead.status == Lead.Status.DISTRIBUTED  # ready → planned (no subscribers: nobody to send to)
    assert lead.plz == "80331"
    assert lead.pdf.read() == content
    assert lead.pdf.path.startswith(str(settings.MEDIA_ROOT))
    assert "80331 München" in lead.text_snippet
    assert lead.candidates[0]["matched"] == "80331 München"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "reason"),
    [(corrupt_pdf(), "corrupt"), (encrypted_pdf(), "encrypted"), (b"PK\x03\x04 a zip file", "not a PDF")],
    ids=["corrupt", "encrypted", "not-a-pdf"],
)
def test_unreadable_pdf_is_quarantined_with_reason(content, reason):
    result = lead_import_pdf(content=content, filename="bad.pdf")
    lead = result.lead
    assert lead.status == Lead.Status.QUARANTINED
    assert reason in lead.quarantine_reason
    assert lead.plz is None
    assert not Delivery.objects.exists()
    assert LeadEvent.objects.filter(lead=lead, action=LeadEvent.Action.QUARANTINED).exists()
    # Quarantined once is quarantined once: a retry does not create a second lead.
    assert lead_import_pdf(content=content, filename="bad.pdf").created is False


@pytest.mark.django_db
def test_several_candidates_wait_for_review():
    content = pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "80331 München")])
    lead = lead_import_pdf(content=content, filename="two.pdf").lead
    assert lead.status == Lead.Status.REVIEW
    assert lead.plz is None
    assert sorted(c["plz"] for c in lead.candidates) == ["10115", "80331"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_concurrent_importers_make_one_lead(grant):
    grant("10115")
    content = lead_pdf(plz="10115", city="Berlin", ref="race")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def importer(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(lead_import_pdf(content=content, filename=f"{n}.pdf", dialfire_id="contact-42"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    for _round in range(3):
        threads = [threading.Thread(target=importer, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    assert errors == []
    assert len(results) == 12
    assert sum(r.created for r in results) == 1
    assert Lead.objects.count() == 1
    assert {r.lead.pk for r in results} == {Lead.objects.get().pk}
    # Planned once for the one subscriber, and only the winner's file remains on disk.
    assert Delivery.objects.count() == 1
    lead = Lead.objects.get()
    import os

    assert os.listdir(os.path.dirname(lead.pdf.path)) == [os.path.basename(lead.pdf.path)]


@pytest.mark.django_db
def test_batch_import_matches_one_by_one(grant):
    from leads.services import PdfIn, leads_import_many

    grant("10115")
    grant("10115")
    known = lead_pdf(plz="10115", city="Berlin", ref="known")
    lead_import_pdf(content=known, filename="known.pdf")
    items = [
        PdfIn(lead_pdf(plz="10115", city="Berlin", ref="b1"), "b1.pdf", "c-1"),
        PdfIn(lead_pdf(plz="10115", city="Berlin", ref="b1"), "again.pdf"),  # same bytes, same batch
        PdfIn(lead_pdf(plz="10115", city="Berlin", ref="b2"), "b2.pdf", "c-1"),  # same contact, same batch
        PdfIn(known, "known-again.pdf"),  # imported before
        PdfIn(corrupt_pdf(), "bad.pdf"),
        PdfIn(pdf_from_lines([(72, 700, "10115 Berlin"), (72, 680, "80331 München")]), "two.pdf"),
    ]
    results = leads_import_many(items=items)
    assert [r.created for r in results] == [True, False, False, False, True, True]
    assert results[1].lead.pk == results[0].lead.pk == results[2].lead.pk
    assert [r.lead.status for r in results[4:]] == [Lead.Status.QUARANTINED, Lead.Status.REVIEW]
    assert Lead.objects.count() == 4
    # Planned like single imports: both subscribers, the first position rotated away from the earlier lead's.
    firsts = list(Delivery.objects.filter(position="first").order_by("lead_id").values_list("subscriber_id", flat=True))
    assert len(firsts) == 2 and firsts[0] != firsts[1]
    assert Delivery.objects.count() == 4
    assert leads_import_many(items=items)[0].created is False
    assert Lead.objects.count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_with_overlap_make_one_lead_each(grant):
    from leads.services import PdfIn, leads_import_many

    grant("10115")
    pdfs = [lead_pdf(plz="10115", city="Berlin", ref=f"ov-{n}") for n in range(6)]
    batches = [[PdfIn(p, f"{n}.pdf") for n, p in enumerate(pdfs[k : k + 4])] for k in (0, 1, 2, 2)]
    barrier = threading.Barrier(4)
    errors = []

    def run(batch):
        try:
            barrier.wait(timeout=10)
            leads_import_many(items=batch)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert Lead.objects.count() == 6
    assert Delivery.objects.count() == 6
