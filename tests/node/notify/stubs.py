"""Outside services that notices reach, run locally (issue 12 item 4): an SMS gateway stub
that checks the signature and records what it got, and a real SMTP server (aiosmtpd).

Both are plain context managers, usable by any test (the public portal's too):

    with SmsGateway(secret="s3cret") as sms, MailServer() as mail:
        configure(node, sms_url=sms.url, sms_secret="s3cret", smtp_host=mail.host, smtp_port=mail.port)
        ...
        sms.messages[0]["text"]; mail.messages[0]["Subject"]
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def configure(node: Any, **settings: Any) -> None:
    """Set ``notify.*`` keys on a running node, as its config file would."""
    node.config = replace(node.config, notify=replace(node.config.notify, **settings))


class SmsGateway:
    """``POST /sms``: answers the next status in ``answers`` (200 when none are left), records
    each request whose ``X-N12315-Signature`` checks out (a bad one gets 401 and is counted)."""

    def __init__(self, secret: str = "gateway-secret", answers: list[int] | None = None) -> None:
        self.secret = secret
        self.answers = list(answers or [])
        self.requests: list[dict[str, Any]] = []     # every request, with its status
        self.bad_signatures = 0
        self.lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stamp = self.headers.get("X-N12315-Timestamp", "")
                want = "sha256=" + hmac.new(gateway.secret.encode(), stamp.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                with gateway.lock:
                    if not hmac.compare_digest(want, self.headers.get("X-N12315-Signature", "")):
                        gateway.bad_signatures += 1
                        status = 401
                    else:
                        status = gateway.answers.pop(0) if gateway.answers else 200
                    gateway.requests.append({"status": status, "json": json.loads(body), "timestamp": stamp,
                                             "content_type": self.headers.get("Content-Type")})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b'{"ok": false}')

            def log_message(self, *args: Any) -> None:   # keep the test output quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The JSON of the requests answered 2xx (what reached the phone)."""
        with self.lock:
            return [r["json"] for r in self.requests if 200 <= r["status"] < 300]

    def __enter__(self) -> SmsGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MailServer:
    """A real SMTP server on 127.0.0.1; ``messages`` are the parsed e-mails it accepted."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        server = self

        class Handler:
            async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
                server.envelopes.append(envelope)
                return "250 OK"

        self.host, self.port = "127.0.0.1", free_port()
        self.controller = Controller(Handler(), hostname=self.host, port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in self.envelopes]

    def __enter__(self) -> MailServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()
