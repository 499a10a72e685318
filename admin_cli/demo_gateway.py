"""The demo's SMS gateway (issue 12): a small HTTP server on 127.0.0.1 that stands in for the
operator's SMS provider, so the demo's consumers get their one-time codes and case notices.

It checks each message's signature the way a real gateway must (docs/notifications.md), keeps
the messages in memory for the demo's checks, and appends them to ``sms.log`` in the demo
directory with the phone masked, so whoever runs ``make demo`` can read their code there.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def mask(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


class DemoSmsGateway:
    def __init__(self, log_file: Path, secret: str) -> None:
        self.secret = secret
        self.log_file = log_file
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stamp = self.headers.get("X-N12315-Timestamp", "")
                want = "sha256=" + hmac.new(gateway.secret.encode(), stamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("X-N12315-Signature", "")):
                    self.send_response(401)
                    self.end_headers()
                    return
                message = json.loads(body)
                message["received_monotonic"] = time.monotonic()   # delivery delays (bench public)
                with gateway.lock:
                    gateway.messages.append(message)
                    with gateway.log_file.open("a", encoding="utf-8") as fh:
                        fh.write(f"{mask(str(message.get('to', '')))}\t{message.get('text', '')}\n")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def to(self, phone: str) -> list[str]:
        """The texts sent to ``phone``, oldest first."""
        with self.lock:
            return [m["text"] for m in self.messages if m.get("to") == phone]

    def __enter__(self) -> DemoSmsGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
