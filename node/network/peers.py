"""Which peer addresses a node accepts (issue 13 item 9): HTTPS, or plain HTTP only where no
one can listen in — this machine (loopback), or a closed test network the operator declares
with ``http.allow_http_peers``. Signatures protect integrity either way; TLS protects the
personal data of cases in transit."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from node.errors import NodeError
from node.runtime import Node


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_peer_url(node: Node, url: str, field: str) -> None:
    """Refuse a peer URL that would carry cases in clear text over a network (422 naming ``field``)."""
    parts = urlsplit(str(url))
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and (_loopback(parts.hostname or "") or node.config.http.allow_http_peers):
        return
    raise NodeError(422, "insecure_peer",
                    f"对端地址须为 https://（本机回环地址除外；封闭测试网可设 http.allow_http_peers）：{str(url)[:80]} / "
                    f"a peer must be reached over https:// (loopback excepted; a closed test network sets "
                    f"http.allow_http_peers)", field)
