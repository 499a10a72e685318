"""The one error type of the node and its JSON shape (CONTRACT §5 "Errors").

Domain code raises ``NodeError``; ``node/web/errors.py`` turns it into
``{"error": {"code", "message", "field"}}`` with the HTTP status, and the CLI prints
``message`` on one line of stderr. Messages are Chinese first, then English, so an
operator and an integrator both read them.
"""
from __future__ import annotations

from typing import Any

# An error reply repeats at most this much of what was sent (issue 13: a 300 KB field used to
# come back as a 300 KB reply); the whole message and field are capped too, as a last guard.
SHOWN_CHARS = 40
MAX_MESSAGE_CHARS = 1_000
MAX_FIELD_CHARS = 120


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` as text for an error message, cut to ``limit`` characters with "…"."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class NodeError(Exception):
    """A refusal a user can act on: HTTP status, stable machine code, message, field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(_capped(message, MAX_MESSAGE_CHARS))
        self.status = status
        self.code = code
        self.message = _capped(message, MAX_MESSAGE_CHARS)
        self.field = None if field is None else _capped(field, MAX_FIELD_CHARS)

    def to_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"NodeError({self.status}, {self.code!r}, {self.message!r}, field={self.field!r})"


def invalid(field: str, message: str, code: str = "invalid") -> NodeError:
    """A 422 validation error naming the field (dotted path, e.g. ``respondent.uscc``)."""
    return NodeError(422, code, message, field)


def bad_request(message: str, field: str | None = None, code: str = "bad_request") -> NodeError:
    return NodeError(400, code, message, field)


def not_found(message: str, code: str = "not_found") -> NodeError:
    return NodeError(404, code, message)


def forbidden(message: str, code: str = "forbidden") -> NodeError:
    return NodeError(403, code, message)


def conflict(message: str, code: str = "conflict", field: str | None = None) -> NodeError:
    return NodeError(409, code, message, field)


STORAGE_FULL_MESSAGE = ("存储空间（磁盘）已满，本次请求未保存，请稍后重试 / storage full (disk or database): "
                        "nothing of this request was stored; retry later")


def storage_full(retry_after_s: int) -> NodeError:
    """503 ``storage_full`` with ``Retry-After`` (RELIABILITY F20): the write was rolled back, so a
    client (or a peer's sender) sends it again later; nothing was acknowledged."""
    err = NodeError(503, "storage_full", STORAGE_FULL_MESSAGE)
    err.retry_after = retry_after_s  # type: ignore[attr-defined]
    return err
