"""The ``Node`` runtime: one bureau's config, database, identity, transport and clock.

A plain data holder (STYLE.md "node/"): services take what they need from it, and
``activate()`` binds this node's database for a request, a job or a CLI command, so that
several nodes can live in one process (the multi-node test harness).

Creating and opening a node home lives in ``node.home``: this module is the plain holder
every domain may import.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from peewee import Database

from federation import keys as fkeys
from node import db as dbmod
from node.config import NodeConfig

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Node:
    config: NodeConfig
    db: Database
    keypair: fkeys.KeyPair
    clock: Clock = system_clock
    transport: requests.Session | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.config.code

    @property
    def level(self) -> str:
        return self.config.level

    def now(self) -> datetime:
        return self.clock()

    @contextmanager
    def activate(self) -> Iterator[Node]:
        """Bind this node's tables to its database for the duration of the block.

        Already bound in this thread (a nested activation, or a ``serve`` worker thread
        bound for good by ``bind_thread``): nothing to do — rebinding ~25 models costs
        more than a simple query on the intake path.
        """
        models = dbmod.all_models()
        if models[0]._meta.database is self.db:
            yield self
            return
        with self.db.bind_ctx(models):
            yield self

    def bind_thread(self) -> None:
        """Bind this node's tables in the current thread for good (one node per process:
        ``serve``'s worker threads)."""
        for model in dbmod.all_models():
            model.bind(self.db, bind_refs=False, bind_backrefs=False)

    def session(self) -> requests.Session:
        if self.transport is None:
            self.transport = requests.Session()
        return self.transport

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()
