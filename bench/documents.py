"""Peak memory and time to watermark a 200-page PDF (issue 4: peak < 150 MB). Prints its figures.

Two documents: text-only pages (a typical generated filing) and scanned pages (a distinct JPEG per page, ~25 MB), both
read from a file on disk as storage.open() would, stamped, and streamed out in 64 KB chunks. Python's heap peak
is measured with tracemalloc, the peak RSS of a fresh process (VmHWM, interpreter included).
Peak memory grows with the file's size (pypdf's writer holds the page objects until it writes), not with the
number of documents: one download holds one file.

    .venv/bin/python -m bench.documents
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from PIL import Image
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from cases import watermark

PAGES = 200
LIMIT_MB = 150.0
CHUNK = 64 * 1024


def _scan_image(seed: int) -> ImageReader:
    """A distinct noisy greyscale 'scan' per page, so nothing is shared between pages (~150 KB as JPEG)."""
    noise = random.Random(seed).randbytes(420 * 540)
    image = Image.frombytes("L", (420, 540), noise).point(lambda v: 235 if v > 60 else v)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=70)
    buffer.seek(0)
    return ImageReader(buffer)


def make_pdf(path: Path, *, scanned: bool) -> None:
    pdf = canvas.Canvas(str(path), pagesize=LETTER)
    for n in range(PAGES):
        if scanned:
            pdf.drawImage(_scan_image(n), 0, 0, width=LETTER[0], height=LETTER[1])
        pdf.setFont("Times-Roman", 11)
        for line in range(48):
            pdf.drawString(72, 740 - line * 14, f"Page {n + 1}, line {line + 1}: IN THE CIRCUIT COURT … lis pendens")
        pdf.showPage()
    pdf.save()


def _peak_rss_mb() -> float:
    """VmHWM: this process's peak RSS. (getrusage's ru_maxrss survives exec on Linux: it would show the parent's.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: Path) -> dict[str, float]:
    rss_before = _peak_rss_mb()
    tracemalloc.start()
    started = time.perf_counter()
    with open(path, "rb") as source:
        out = watermark.stamp_pdf(source, text="Licensed to owner@example.com · 2026-11-22 · JSN")
    size = 0
    while chunk := out.read(CHUNK):
        size += len(chunk)
    out.close()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _peak_rss_mb()
    return {
        "in_mb": os.path.getsize(path) / 1e6,
        "out_mb": size / 1e6,
        "seconds": elapsed,
        "heap_peak_mb": peak / 1e6,
        "rss_peak_mb": rss_after,
        "rss_growth_mb": rss_after - rss_before,
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]))))
        return 0
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for scanned in (False, True):
            path = Path(tmp) / f"doc-{'scan' if scanned else 'text'}.pdf"
            make_pdf(path, scanned=scanned)
            # Measured in a fresh process, so the RSS peak is the stamping's, not the generator's.
            child = subprocess.run(
                [sys.executable, "-m", "bench.documents", "--measure", str(path)],
                check=True,
                capture_output=True,
                text=True,
                cwd=Path(__file__).resolve().parents[1],
            )
            m = json.loads(child.stdout)
            ok = m["heap_peak_mb"] < LIMIT_MB and m["rss_peak_mb"] < LIMIT_MB
            failures += not ok
            kind = "scanned" if scanned else "text   "
            print(
                f"{PAGES} pages {kind}: in {m['in_mb']:6.1f} MB, out {m['out_mb']:6.1f} MB,"
                f" {m['seconds']:5.2f} s, heap peak {m['heap_peak_mb']:6.1f} MB,"
                f" process RSS peak {m['rss_peak_mb']:6.1f} MB (+{m['rss_growth_mb']:.1f})"
                f"  limit {LIMIT_MB:.0f} MB: {'ok' if ok else 'OVER'}"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
