"""The HTTP server ``serve`` runs: waitress, refusing a request that states both
``Transfer-Encoding`` and ``Content-Length`` (issue 13 "found from outside").

Waitress 3.0 reads such a request as chunked (RFC 9112 §6.1 allows that) but keeps the
connection open, so bytes after the last chunk are read as the next request. Behind a proxy
that frames by ``Content-Length`` that is request smuggling: the proxy forwards one request,
the node executes two. RFC 9112 §6.3 lets a server reject such a message outright; we do (400,
and waitress closes the connection after any parse error), so nothing after it on the
connection is read. ``tests/node/test_http_framing.py`` shows both against a real socket.
"""
from __future__ import annotations

from typing import Any

from waitress import create_server as _waitress_server
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError


class StrictRequestParser(HTTPRequestParser):
    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        # waitress has taken Transfer-Encoding out of the headers by now; ``chunked`` remembers it
        if self.chunked and "CONTENT_LENGTH" in self.headers:
            raise ParsingError("Transfer-Encoding and Content-Length together are refused (RFC 9112 §6.3)")


class StrictChannel(HTTPChannel):
    parser_class = StrictRequestParser


def create_server(app: Any, **kw: Any) -> Any:
    """``waitress.create_server`` with the strict request parser."""
    server = _waitress_server(app, **kw)
    server.channel_class = StrictChannel
    return server
