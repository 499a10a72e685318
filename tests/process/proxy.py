"""A small HTTP fault proxy on 127.0.0.1 for real-process tests.

A node is initialised with its URL pointing at the proxy, so every request its peers
send it passes through here. Modes, switchable while running: ``pass``; ``drop_request``
(close the connection before forwarding: F1); ``drop_response`` (forward, let the node
commit, then close without answering: F2); ``duplicate`` (forward twice at once: F3);
``tamper`` (flip a digit in the body, keep the signature headers: F24); ``hold`` (keep a
push back and close the connection, so the sender times out and retries; ``release_held``
delivers the held ones late, newest first: F4). Every request seen is captured so a test
can replay it later (F23).
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

import requests


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultProxy:
    listen_port: int
    target_port: int
    mode: str = "pass"
    captured: list[Captured] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    held: list[Captured] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.listen_port))
        self._sock.listen(64)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        try:
            socket.create_connection(("127.0.0.1", self.listen_port), timeout=1).close()
        except OSError:
            pass
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._stop.is_set():
                conn.close()
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _read_request(self, conn: socket.socket) -> Captured | None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip()] = v.strip()
        length = int(headers.get("Content-Length", "0"))
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return Captured(method, path, headers, rest[:length])

    def _forward(self, req: Captured) -> requests.Response:
        headers = {k: v for k, v in req.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        # the signature covers @target-uri as the sender saw it: keep the Host it used
        headers["Host"] = req.headers.get("Host", f"127.0.0.1:{self.listen_port}")
        return requests.request(req.method, f"http://127.0.0.1:{self.target_port}{req.path}", headers=headers,
                                data=req.body, timeout=30)

    def _handle(self, conn: socket.socket) -> None:
        try:
            req = self._read_request(conn)
            if req is None:
                return
            mode = self.mode
            self.counts[mode] = self.counts.get(mode, 0) + 1
            if req.path.startswith("/federation/v1/"):
                self.captured.append(req)
            if mode == "drop_request" and req.path.startswith("/federation/v1/p"):
                return
            if mode == "hold" and req.path.startswith("/federation/v1/push"):
                self.held.append(req)
                return
            if mode == "tamper" and req.path.startswith("/federation/v1/push"):
                req = Captured(req.method, req.path, req.headers, _flip_digit(req.body))
            if mode == "duplicate" and req.path.startswith("/federation/v1/push"):
                results: list[requests.Response] = []
                threads = [threading.Thread(target=lambda: results.append(self._forward(req))) for _ in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                resp = results[0]
            else:
                resp = self._forward(req)
            if mode == "drop_response" and req.path.startswith("/federation/v1/p"):
                return
            body = resp.content
            head = f"HTTP/1.1 {resp.status_code} {resp.reason}\r\n"
            for k, v in resp.headers.items():
                if k.lower() in ("content-length", "connection", "transfer-encoding"):
                    continue
                head += f"{k}: {v}\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            conn.sendall(head.encode("latin-1") + body)
        except OSError:
            pass
        finally:
            conn.close()

    def replay(self, req: Captured) -> requests.Response:
        return self._forward(req)

    def release_held(self) -> list[int]:
        """Deliver the held requests late, newest first; the answers go nowhere (their
        senders gave up on them long ago). Returns the status codes."""
        held, self.held = self.held, []
        return [self._forward(req).status_code for req in reversed(held)]


def _flip_digit(body: bytes) -> bytes:
    for i, b in enumerate(body):
        if 0x30 <= b <= 0x38:
            return body[:i] + bytes([b + 1]) + body[i + 1:]
    return body + b" "
