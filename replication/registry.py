"""Handlers for arriving documents, keyed by document kind (STYLE.md: the transport never
knows what a case is — ``node/`` registers what to do with each kind)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from replication.engine import Delivery

Handler = Callable[["Delivery"], None]


class ApplyError(Exception):
    """A document that cannot be applied (yet): it goes to quarantine, its channel waits."""


@dataclass
class Registry:
    handlers: dict[str, Handler] = field(default_factory=dict)

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self.handlers and self.handlers[kind] is not handler:
            raise ValueError(f"a handler for {kind} is already registered")
        self.handlers[kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self.handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self.handlers)


def describe(value: Any) -> str:
    return repr(value)[:200]
