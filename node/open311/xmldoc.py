"""GeoReport v2 documents as XML, the standard's required format (issue 12 item 5).

Built with ``xml.etree.ElementTree`` (which escapes ``&``, ``<`` and ``>`` in text), with a
UTF-8 declaration. Lists nest the way the standard's examples do: ``<services><service>``,
``<attributes><attribute>``, ``<values><value>``, ``<formats><format>``; ``null`` is an empty
element; booleans are ``true``/``false``. Characters XML 1.0 cannot carry at all (a few that
the case standard's text check lets through, U+FFFE, U+FFFF) become U+FFFD, so every
document parses.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
ITEM_TAGS = {"services": "service", "service_requests": "request", "errors": "error",
             "endpoints": "endpoint", "formats": "format", "attributes": "attribute", "values": "value"}
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(el: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, v in value.items():
            _fill(ET.SubElement(el, key), v)
    elif isinstance(value, list):
        item_tag = ITEM_TAGS[el.tag]
        for v in value:
            _fill(ET.SubElement(el, item_tag), v)
    else:
        el.text = _text(value)


def document(root: str, value: Any) -> bytes:
    """``value`` (a dict, or a list for the plural roots) under ``<root>``, UTF-8 bytes."""
    el = ET.Element(root)
    _fill(el, value)
    return DECLARATION + ET.tostring(el, encoding="unicode").encode("utf-8")
