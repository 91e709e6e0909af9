"""A local Stripe at the HTTP boundary: the few endpoints billing uses, with Stripe's
idempotency rules (a key replays its first answer; the same key with other parameters
is an error), its rules for credit notes and voids, and a count of every object made."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.created: Counter[str] = Counter()
        self.idempotent: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.requests = 0
        self.down_after: int | None = None
        """Answer 500 to every request after this many (a crash mid-push)."""
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.url = ""

    def count(self, kind: str) -> int:
        return self.created[kind]

    def pay(self, invoice_id: str) -> None:
        """The customer pays the invoice (what Stripe does on a card payment)."""
        with self.lock:
            invoice = self.objects[invoice_id]
            assert invoice["status"] == "open"
            invoice["status"], invoice["amount_remaining"] = "paid", 0

    def handle(
        self, method: str, path: str, body: str, key: str | None
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests += 1
            if self.down_after is not None and self.requests > self.down_after:
                return 500, {"error": {"type": "api_error", "message": "down"}}
            signature = f"{method} {path} {sorted(parse_qsl(body))}"
            if key is not None and key in self.idempotent:
                seen, status, answer = self.idempotent[key]
                if seen != signature:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with "
                            "the same parameters they were first used with.",
                        }
                    }
                return status, answer
            status, answer = self._route(method, path, dict(parse_qsl(body)))
            if key is not None:
                self.idempotent[key] = (signature, status, answer)
            return status, answer

    def _make(self, kind: str, prefix: str, **fields: Any) -> dict[str, Any]:
        obj = {"id": f"{prefix}_{next(self._ids):06d}", "object": kind, **fields}
        self.objects[obj["id"]] = obj
        self.created[kind] += 1
        return obj

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method != "POST" or parts[0] != "v1":
            return 404, {"error": {"type": "invalid_request_error", "message": path}}
        if parts[1:] == ["customers"]:
            return 200, self._make("customer", "cus", name=form.get("name"))
        if parts[1:] == ["invoices"]:
            return 200, self._make(
                "invoice", "in", customer=form["customer"], status="draft", lines=[], total=0
            )
        if parts[1:] == ["invoiceitems"]:
            invoice = self.objects.get(form.get("invoice", ""))
            if invoice is None or invoice["status"] != "draft":
                return 400, {"error": {"type": "invalid_request_error", "message": "invoice"}}
            item = self._make(
                "invoiceitem", "ii", amount=int(form["amount"]), invoice=invoice["id"]
            )
            invoice["lines"].append(item["id"])
            invoice["total"] += item["amount"]
            return 200, item
        if len(parts) == 4 and parts[1] == "invoices" and parts[3] == "finalize":
            invoice = self.objects.get(parts[2])
            if invoice is None:
                return 404, {"error": {"type": "invalid_request_error", "message": "no invoice"}}
            if invoice["status"] != "draft":
                return 400, {"error": {"type": "invalid_request_error", "message": "finalized"}}
            invoice["status"] = "open"
            invoice["amount_remaining"] = invoice["total"]
            return 200, invoice
        if len(parts) == 4 and parts[1] == "invoices" and parts[3] == "void":
            invoice = self.objects.get(parts[2])
            if invoice is None:
                return 404, {"error": {"type": "invalid_request_error", "message": "no invoice"}}
            if invoice["status"] != "open":
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"You can only void open invoices, not {invoice['status']}.",
                    }
                }
            invoice["status"] = "void"
            return 200, invoice
        if parts[1:] == ["credit_notes"]:
            return self._credit_note(form)
        return 404, {"error": {"type": "invalid_request_error", "message": path}}

    def _credit_note(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        invoice = self.objects.get(form.get("invoice", ""))
        if invoice is None or invoice["status"] not in ("open", "paid"):
            return 400, {"error": {"type": "invalid_request_error", "message": "invoice"}}
        amount = int(form["amount"])
        credited = sum(
            note["amount"]
            for note in self.objects.values()
            if note["object"] == "credit_note" and note["invoice"] == invoice["id"]
        )
        if amount <= 0 or credited + amount > invoice["total"]:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "The sum of credit amounts exceeds the invoice total.",
                }
            }
        pre_payment = min(amount, invoice["amount_remaining"])
        post_payment = amount - pre_payment
        settled = sum(
            int(form.get(field, 0))
            for field in ("credit_amount", "refund_amount", "out_of_band_amount")
        )
        if settled != post_payment:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "message": "The sum of credit amount, refund amount and out of band "
                    "amount must equal the credit note's post-payment amount.",
                }
            }
        invoice["amount_remaining"] -= pre_payment
        return 200, self._make(
            "credit_note", "cn", invoice=invoice["id"], amount=amount, memo=form.get("memo")
        )


@contextmanager
def running_fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            status, answer = fake.handle(
                "POST", self.path, body, self.headers.get("Idempotency-Key")
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Stripe-Should-Retry", "false")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
