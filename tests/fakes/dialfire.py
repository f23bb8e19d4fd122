"""A fake Dialfire: a real HTTP server on 127.0.0.1 with state (contacts, cursor pagination, errors, duplicates).

In tests:
    with FakeDialfire(token="t", campaign="C1") as fake:
        fake.add_contact("c-1", pdf_bytes)
        client = DialfireClient(base_url=fake.url, token="t", campaign_id="C1")

For local runs (the demo's Dialfire):
    python -m tests.fakes.dialfire --port 8765 [--token demo-token] [--campaign DEMO] [--leads 20]
and set DIALFIRE_BASE_URL=http://127.0.0.1:8765 DIALFIRE_TOKEN=demo-token DIALFIRE_CAMPAIGN_ID=DEMO.
POST /_add?n=5 adds n new random lead contacts while it runs.
"""

import argparse
import json
import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class FakeContact:
    id: str
    pdf: bytes | None
    seq: int = 0


@dataclass
class FakeDialfire:
    token: str = "test-token"
    campaign: str = "C1"
    port: int = 0
    contacts: list[FakeContact] = field(default_factory=list)
    # Queued answers for the next requests: each request pops one; 0 = answer normally, e.g. [0, 0, 503].
    fail_next: list[int] = field(default_factory=list)
    fail_pdf: dict[str, int] = field(default_factory=dict)  # contact id → status for its PDF download
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._server: ThreadingHTTPServer | None = None

    # --- state -----------------------------------------------------------------------------
    def add_contact(self, contact_id: str, pdf: bytes | None) -> FakeContact:
        """Append a contact. Adding an existing id again models Dialfire re-listing an updated contact."""
        with self._lock:
            self._seq += 1
            contact = FakeContact(id=contact_id, pdf=pdf, seq=self._seq)
            self.contacts.append(contact)
            return contact

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- server ----------------------------------------------------------------------------
    def start(self) -> "FakeDialfire":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path == "/_add":
                    n = int(parse_qs(parsed.query).get("n", ["1"])[0])
                    add_random_leads(fake, n)
                    return self._send(200, b'{"ok": true}')
                return self._send(404, b"{}")

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                with fake._lock:
                    failure = fake.fail_next.pop(0) if fake.fail_next else None
                if failure:
                    return self._send(failure, json.dumps({"error": f"fake failure {failure}"}).encode())
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, b'{"error": "invalid token"}')
                parsed = urlparse(self.path)
                query = parse_qs(parsed.query)
                if parsed.path == f"/api/campaigns/{fake.campaign}/contacts":
                    return self._contacts(query)
                if parsed.path.startswith("/files/"):
                    return self._file(parsed.path.removeprefix("/files/").removesuffix(".pdf"))
                return self._send(404, b'{"error": "not found"}')

            def _contacts(self, query: dict) -> None:
                cursor = int((query.get("cursor") or ["0"])[0] or 0)
                limit = max(1, min(int((query.get("limit") or ["50"])[0]), 100))
                with fake._lock:
                    rows = [c for c in fake.contacts if c.seq > cursor][:limit]
                    has_more = any(c.seq > (rows[-1].seq if rows else cursor) for c in fake.contacts)
                body = {
                    "contacts": [
                        {"id": c.id, "pdf_url": f"/files/{c.seq}.pdf" if c.pdf is not None else None} for c in rows
                    ],
                    "next_cursor": str(rows[-1].seq if rows else cursor),
                    "has_more": has_more,
                }
                self._send(200, json.dumps(body).encode())

            def _file(self, seq: str) -> None:
                with fake._lock:
                    contact = next((c for c in fake.contacts if str(c.seq) == seq), None)
                if contact is None or contact.pdf is None:
                    return self._send(404, b'{"error": "no such file"}')
                if contact.id in fake.fail_pdf:
                    return self._send(fake.fail_pdf[contact.id], b"{}")
                self._send(200, contact.pdf, "application/pdf")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "FakeDialfire":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_random_leads(fake: FakeDialfire, n: int, rng: random.Random | None = None) -> None:
    from leads.samples import random_lead_pdf

    rng = rng or random.Random()
    for _ in range(n):
        ref = f"{rng.randint(10**7, 10**8 - 1)}"
        pdf, _plz = random_lead_pdf(rng, ref=ref)
        fake.add_contact(f"df-{ref}", pdf)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a fake Dialfire API on 127.0.0.1 for local runs.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default="demo-token")
    parser.add_argument("--campaign", default="DEMO")
    parser.add_argument("--leads", type=int, default=20, help="contacts with a lead PDF to start with")
    args = parser.parse_args()
    fake = FakeDialfire(token=args.token, campaign=args.campaign, port=args.port)
    add_random_leads(fake, args.leads, random.Random(1))
    fake.start()
    print(f"Fake Dialfire on {fake.url} (campaign {args.campaign}, token {args.token}, {args.leads} contacts).")
    print(f"  DIALFIRE_BASE_URL={fake.url} DIALFIRE_TOKEN={args.token} DIALFIRE_CAMPAIGN_ID={args.campaign}")
    print(f"  Add contacts: curl -X POST '{fake.url}/_add?n=5'. Ctrl-C stops.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
