"""Epochs of a node's store (RELIABILITY rule 3, F8).

A node restored from a backup (or reinstalled over an old database) would hand out
sequence numbers it has already used; receivers would then silently drop the new
documents as duplicates. To prevent that, the sender keeps a small sidecar file next to
the database, ``replication-state.json``, holding the epoch and the highest sequence
number it has ever *sent* per (destination, channel), written (and fsynced) before a
batch leaves. At start the database is compared with the sidecar: if the database's
counters lie below what was already sent, or its epoch is an older one, the store was
rolled back, and a new epoch begins — numbering restarts at 1 under a fresh epoch id, so
old and new numbers never collide. A receiver that still sees the same key with other
content raises the alarm (409) instead of answering OK.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from federation.models import LocalState
from federation.storage import write_tx
from replication.engine import Replicator
from replication.models import ReplicationAudit, SendCounter

log = logging.getLogger(__name__)
SIDECAR = "replication-state.json"


def _path(rep: Replicator) -> Path | None:
    return None if rep.state_dir is None else Path(rep.state_dir) / SIDECAR


def read_sidecar(rep: Replicator) -> dict[str, Any]:
    path = _path(rep)
    if path is None or not path.exists():
        return {"epochs": [], "sent": {}}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("replication sidecar unreadable (%s); treating as empty", exc)
        return {"epochs": [], "sent": {}}
    data.setdefault("epochs", [])
    data.setdefault("sent", {})
    return data


_THREAD_LOCK = threading.Lock()


@contextmanager
def _sidecar_lock(rep: Replicator) -> Iterator[None]:
    """One writer of the sidecar at a time, across threads and processes (``serve`` and a CLI
    ``sync`` or ``stats push`` beside it): a read-modify-write that interleaved with another
    would lose a sent mark, and a shared temporary file made one writer's rename fail."""
    path = _path(rep)
    with _THREAD_LOCK:
        if path is None:
            yield
            return
        with open(path.with_suffix(".lock"), "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _write_sidecar(rep: Replicator, data: dict[str, Any]) -> None:
    path = _path(rep)
    if path is None:
        return
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def note_sent(rep: Replicator, dest: str, channel: str, epoch: str, max_seq: int) -> None:
    """Record, before sending, the highest sequence number about to leave."""
    with _sidecar_lock(rep):
        data = read_sidecar(rep)
        key = f"{dest}/{channel}/{epoch}"
        if data["sent"].get(key, 0) >= max_seq and epoch in data["epochs"]:
            return
        if epoch not in data["epochs"]:
            data["epochs"].append(epoch)
        data["sent"][key] = max(max_seq, data["sent"].get(key, 0))
        _write_sidecar(rep, data)


def check_restored(rep: Replicator) -> str | None:
    """Start a new epoch if the database went back in time; return the new epoch or None."""
    data = read_sidecar(rep)
    epoch = LocalState.get_value("epoch")
    if not data["epochs"] or epoch is None:
        return None
    rolled_back = False
    reason = ""
    if epoch in data["epochs"] and epoch != data["epochs"][-1]:
        rolled_back, reason = True, f"database epoch {epoch} is older than {data['epochs'][-1]}"
    elif epoch not in data["epochs"]:
        return None  # a new epoch never used to send yet
    else:
        for row in SendCounter.select().where(SendCounter.epoch == epoch):
            sent = data["sent"].get(f"{row.dest}/{row.channel}/{epoch}", 0)
            if row.next_seq - 1 < sent:
                rolled_back = True
                reason = (f"counter {row.dest}/{row.channel} is at {row.next_seq - 1} "
                          f"but {sent} was already sent")
                break
        else:
            # a counter row lost entirely (restored from before the first send)
            known = {f"{r.dest}/{r.channel}/{epoch}" for r in SendCounter.select().where(SendCounter.epoch == epoch)}
            missing = [k for k in data["sent"] if k.endswith("/" + epoch) and k not in known]
            if missing:
                rolled_back, reason = True, f"counters {missing[:3]} missing"
    if not rolled_back:
        return None
    new = "e" + secrets.token_hex(6)
    with write_tx(rep.db):
        LocalState.put("epoch", new)
        ReplicationAudit.insert(at=rep.now(), actor="system", action="epoch", peer=None,
                                detail=f"store restored from a backup ({reason}); new epoch {new}").execute()
    log.error("store rolled back (%s): starting new epoch %s", reason, new)
    return new
