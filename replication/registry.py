"""Handlers for arriving documents, keyed by document kind (STYLE.md: the transport never
knows what a case is — ``node/`` registers what to do with each kind)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from replication.engine import Delivery

Handler = Callable[["Delivery"], None]


class ApplyError(Exception):
    """A document that cannot be applied (yet): it goes to quarantine, its channel waits."""


@dataclass
class Registry:
    handlers: dict[str, Handler] = field(default_factory=dict)
    #: Kinds that fan out down the tree (a directive to a subtree): ``dest`` names the
    #: subtree (its origin's code) and the parent may hand such a document to any node
    #: inside it, not only to nodes whose subtree holds ``dest`` (see inbox.check_document).
    fanout: set[str] = field(default_factory=set)

    def register(self, kind: str, handler: Handler, *, fanout: bool = False) -> None:
        if kind in self.handlers and self.handlers[kind] is not handler:
            raise ValueError(f"a handler for {kind} is already registered")
        self.handlers[kind] = handler
        if fanout:
            self.fanout.add(kind)

    def get(self, kind: str) -> Handler | None:
        return self.handlers.get(kind)

    def kinds(self) -> list[str]:
        return sorted(self.handlers)


def describe(value: Any) -> str:
    return repr(value)[:200]
