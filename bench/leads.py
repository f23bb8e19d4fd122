"""Lead import throughput: import + PLZ extraction + delivery planning for 1,000 generated PDFs, next to the floor
of pypdf's bare text extraction of the same files.

Targets (issue 7): ≥ 50 PDFs per second end to end, and our extraction within 2× of pypdf's bare extraction.
Run by `make bench` (bin/bench), or alone: `.venv/bin/python -m bench.leads`.
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

from bench import harness

harness.setup_django()

from django.test.utils import override_settings  # noqa: E402
from pypdf import PdfReader  # noqa: E402

from accounts.models import User  # noqa: E402
from leads import plz  # noqa: E402
from leads.models import Delivery, Lead, PlzSubscription  # noqa: E402
from leads.samples import CITIES, random_lead_pdf  # noqa: E402
from leads.services import PdfIn, lead_import_pdf, leads_import_many, subscription_grant  # noqa: E402

COUNT = int(os.environ.get("BENCH_LEADS", "1000"))
TARGET_PDFS_PER_S = 50.0
TARGET_EXTRACTION_RATIO = 2.0
PREFIX = "bench-lead-"
AGENT_DOMAIN = "bench-leads.example"


def _bare_pypdf(pdfs: list[bytes]) -> float:
    start = time.perf_counter()
    for content in pdfs:
        for page in PdfReader(BytesIO(content)).pages:
            page.extract_text()
    return time.perf_counter() - start


def _ours(pdfs: list[bytes]) -> float:
    start = time.perf_counter()
    for content in pdfs:
        plz.extract(content)
    return time.perf_counter() - start


def _cleanup_leads() -> None:
    Lead.objects.filter(filename__startswith=PREFIX).delete()


def _cleanup() -> None:
    _cleanup_leads()
    User.objects.filter(email__endswith="@" + AGENT_DOMAIN).delete()


def main() -> int:
    rng = random.Random(7)
    pdfs = [random_lead_pdf(rng, ref=f"B{n:06d}-{rng.random()}")[0] for n in range(COUNT)]
    _cleanup()
    agents = [User.objects.create(email=f"agent{n}@{AGENT_DOMAIN}") for n in range(12)]
    for n, agent in enumerate(agents):
        for code, _city in CITIES[n % 4 :: 4]:
            subscription_grant(actor=None, user=agent, plz=code)

    # Warm up imports and caches, then measure each floor and ours alternately (twice) and keep the best.
    _bare_pypdf(pdfs[:20])
    _ours(pdfs[:20])
    bare = min(_bare_pypdf(pdfs) for _ in range(2))
    ours = min(_ours(pdfs) for _ in range(2))

    with (
        tempfile.TemporaryDirectory() as media,
        override_settings(MEDIA_ROOT=media, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
    ):
        # As the Dialfire import and `import_leads` do: a page (batch) of 50 PDFs per transaction.
        start = time.perf_counter()
        for first in range(0, COUNT, 50):
            batch = [
                PdfIn(content=c, filename=f"{PREFIX}{first + n}.pdf") for n, c in enumerate(pdfs[first : first + 50])
            ]
            leads_import_many(items=batch)
        import_s = time.perf_counter() - start
        planned = Delivery.objects.filter(lead__filename__startswith=PREFIX).count()
        leads = Lead.objects.filter(filename__startswith=PREFIX).count()
        # One by one (the admin upload's path), on a tenth of the files, for comparison.
        single = pdfs[: COUNT // 10]
        _cleanup_leads()
        start = time.perf_counter()
        for n, content in enumerate(single):
            lead_import_pdf(content=content, filename=f"{PREFIX}single-{n}.pdf")
        single_rate = len(single) / (time.perf_counter() - start)
        _cleanup()
    assert PlzSubscription.objects.filter(user__email__endswith=AGENT_DOMAIN).count() == 0

    rate = COUNT / import_s
    ratio = ours / bare
    ok_rate, ok_ratio = rate >= TARGET_PDFS_PER_S, ratio <= TARGET_EXTRACTION_RATIO
    print(f"leads bench: {COUNT} generated lead PDFs ({sum(map(len, pdfs)) // COUNT} bytes each on average)")
    print(f"  pypdf bare text extraction   {bare:7.2f} s   {COUNT / bare:8.1f} PDFs/s   (floor)")
    print(f"  our PLZ extraction           {ours:7.2f} s   {COUNT / ours:8.1f} PDFs/s   ratio {ratio:.2f}x "
          f"(target ≤ {TARGET_EXTRACTION_RATIO}x) {harness.verdict(ok_ratio)}")  # fmt: skip
    print(f"  import + extract + plan      {import_s:7.2f} s   {rate:8.1f} PDFs/s   "
          f"(target ≥ {TARGET_PDFS_PER_S}) {harness.verdict(ok_rate)}")  # fmt: skip
    print(f"  [{leads} leads imported, {planned} deliveries planned, in pages of 50 per transaction]")
    print(f"  one PDF per transaction (admin upload path): {single_rate:8.1f} PDFs/s (for comparison, no target)")
    results = {
        "count": COUNT,
        "bare_pypdf_s": bare,
        "extraction_s": ours,
        "extraction_ratio": ratio,
        "import_s": import_s,
        "pdfs_per_s": rate,
        "single_pdfs_per_s": single_rate,
        "deliveries_planned": planned,
        "pass": ok_rate and ok_ratio,
    }
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "leads.json").write_text(json.dumps(results, indent=2))
    return 0 if ok_rate and ok_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
