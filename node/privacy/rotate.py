"""Re-encrypting personal data: migration 13 and ``n12315 key rotate-data`` (issue 13 item 1;
docs/privacy.md "Rotation").

``reseal_column`` walks one encrypted column in primary-key order, batch by batch (one
transaction per batch), and rewrites every value not yet under the target key: a plain value
from before migration 13 is encrypted, a value under an older key is opened and sealed again.
The case's look-up hash is recomputed with it (the look-up key rotates with the data key). Each
row is updated only if it still holds what was read, so a row that ``serve`` changed meanwhile is
left to the next pass instead of being overwritten.

``rotate_data`` is resumable: the rotation in progress is recorded in ``local_state``
(``privacy.rotation``) before the first row moves, so a run stopped anywhere — an error, Ctrl-C,
``kill -9`` — is finished by running it again, on the same new key. Reads work throughout: the
old key stays in the keyring until a final pass finds no row under it, and a serving process
re-reads the key file when it meets a key id it does not hold.

Evidence attachments (``blobs``, a ``node.privacy.blobs.BlobDir``) move with the columns: every
blob not yet under the target key — plain ones stored before blobs were encrypted included — is
opened, checked against its name and sealed again, one atomic replace each; a blob already under
the target is skipped, so a rerun does only what is left. The old keys are dropped only when
neither a row nor a blob still needs them.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from federation.models import LocalState
from node.privacy.blobs import BlobDir
from node.privacy.fields import PREFIX, aad_for, decrypt, encrypt, encrypted_columns, is_encrypted
from node.privacy.keys import DataKey, DataKeyError, Keyring, keyring_of
from node.privacy.lookup import complainant_hashes

BATCH = 500
STATE_KEY = "privacy.rotation"
# columns whose look-up hashes follow the value: (table, column) → fn(ring, plain, key) -> {col: hash}
HASHED: dict[tuple[str, str], Callable[[Keyring, str, DataKey], dict[str, Any]]] = {
    ("case", "complainant"): lambda ring, plain, key: complainant_hashes(ring, plain, key),
}

Progress = Callable[[int], None]


class StopAfter(Exception):
    """Raised by the test hook ``fail_after_batches``: a run stopped half way."""


def _pending_where(db: Any, col: str) -> str:
    return f'"{col}" IS NOT NULL AND "{col}" <> \'\' AND "{col}" NOT LIKE {db.param}'


def pending_count(db: Any, model: Any, field: Any, target: str) -> int:
    """Rows of one column not yet under key ``target``."""
    table, col = model._meta.table_name, field.column_name
    sql = f'SELECT COUNT(*) FROM "{table}" WHERE {_pending_where(db, col)}'
    return int(db.execute_sql(sql, [f"{PREFIX}{target}:%"]).fetchone()[0])


def reseal_column(db: Any, model: Any, field: Any, ring: Keyring, target: DataKey, *, batch: int = BATCH,
                  progress: Progress | None = None, after_batch: Callable[[], None] | None = None) -> int:
    """Bring every value of one column under ``target``; returns how many rows were rewritten."""
    table, col = model._meta.table_name, field.column_name
    pk = model._meta.primary_key.column_name
    aad = aad_for(table, col)
    hashed = HASHED.get((table, col))
    pattern = f"{PREFIX}{target.kid}:%"
    select = (f'SELECT "{pk}", "{col}" FROM "{table}" WHERE "{pk}" > {db.param} AND {_pending_where(db, col)} '
              f'ORDER BY "{pk}" LIMIT {int(batch)}')
    last: Any = -(2 ** 62)   # every encrypted table has an integer key
    done = 0
    while True:
        rows = db.execute_sql(select, [last, pattern]).fetchall()
        if not rows:
            return done
        with db.atomic():
            for key, stored in rows:
                plain = decrypt(ring, stored, aad) if is_encrypted(stored) else stored
                sets = {col: _seal_under(target, plain, aad)}
                if hashed is not None:
                    sets.update(hashed(ring, plain, target))
                assign = ", ".join(f'"{c}" = {db.param}' for c in sets)
                db.execute_sql(f'UPDATE "{table}" SET {assign} WHERE "{pk}" = {db.param} AND "{col}" = {db.param}',
                               [*sets.values(), key, stored])
        done += len(rows)
        last = rows[-1][0]
        if progress is not None:
            progress(len(rows))
        if after_batch is not None:
            after_batch()


def _seal_under(key: DataKey, plain: str, aad: bytes) -> str:
    return encrypt(_Fixed(key), plain, aad)  # type: ignore[arg-type]


class _Fixed:
    """A keyring view whose current key is the rotation's target, whatever the file says."""

    def __init__(self, key: DataKey):
        self.current = key


def encrypt_plain_rows(db: Any, models: list[Any], *, batch: int = BATCH) -> int:
    """Migration 13: encrypt in place every value written before it, batch by batch."""
    ring = keyring_of(db)
    target = ring.current
    return sum(reseal_column(db, m, f, ring, target, batch=batch) for m, f in encrypted_columns(models))


# -- n12315 key rotate-data --------------------------------------------------------------------------
def rotation_state(db: Any) -> dict[str, Any] | None:
    with db.bind_ctx([LocalState]):
        raw = LocalState.get_value(STATE_KEY)
    return json.loads(raw) if raw else None


def _put_state(db: Any, state: dict[str, Any] | None) -> None:
    with db.bind_ctx([LocalState]), db.atomic():
        if state is None:
            LocalState.delete().where(LocalState.key == STATE_KEY).execute()
        else:
            LocalState.put(STATE_KEY, json.dumps(state))


def rotate_data(db: Any, models: list[Any], *, now: str, batch: int = BATCH, grace_s: float = 2.0,
                start: Callable[[dict[str, Any], int], Progress] | None = None,
                fail_after_batches: int | None = None, blobs: BlobDir | None = None) -> dict[str, Any]:
    """Re-encrypt every encrypted column of ``models`` and every blob of ``blobs`` (the node's
    evidence directory) under a new data key (or finish the rotation a stopped run began).
    ``start(state, total)`` is called once the target is known and returns the progress
    callback. Returns ``{"to", "from", "rows", "blobs", "resumed", "dropped"}``."""
    ring = keyring_of(db)
    state = rotation_state(db)
    resumed = state is not None
    if state is None:
        old = ring.kids
        if ring.path is None:
            target = ring.current      # N12315_DATA_KEY: the operator put the new key first
        else:
            target = ring.add_current()
        state = {"to": target.kid, "from": [k for k in old if k != target.kid], "started_at": now}
        _put_state(db, state)
        if grace_s > 0 and ring.path is not None:
            time.sleep(grace_s)   # serving processes re-read the key file within a second
    found = ring.get(state["to"])
    if found is None:
        raise DataKeyError(f"未完成的轮换所用的新密钥 {state['to']} 不在密钥环中 / the new key {state['to']} of the "
                           "unfinished rotation is not held: put it back", "data_key_unknown")
    target = found
    if ring.path is not None and ring.current.kid != target.kid:
        raise DataKeyError(f"密钥文件的当前密钥是 {ring.current.kid}，而未完成的轮换要换到 {target.kid} / the key file's "
                           f"current key is {ring.current.kid} but the unfinished rotation moves to {target.kid}",
                           "data_key_conflict")
    columns = encrypted_columns(models)

    def pending() -> int:
        return (sum(pending_count(db, m, f, target.kid) for m, f in columns)
                + (len(blobs.pending(target.kid)) if blobs is not None else 0))

    total = pending()
    progress = start({**state, "resumed": resumed}, total) if start is not None else None
    batches = 0

    def counted() -> None:
        nonlocal batches
        batches += 1
        if fail_after_batches is not None and batches >= fail_after_batches:
            raise StopAfter(f"stopped after {batches} batches (test hook)")

    rows = files = 0
    for _round in range(5):   # a value serve wrote under the old key meanwhile is caught next round
        rows += sum(reseal_column(db, m, f, ring, target, batch=batch, progress=progress, after_batch=counted)
                    for m, f in columns)
        if blobs is not None:
            files += blobs.reseal(ring, target, batch=batch, progress=progress, after_batch=counted)
        if not pending():
            break
    else:
        raise DataKeyError("仍有数据未换到新密钥，请再次运行 / some values are still under the old key: run "
                           "rotate-data again", "rotation_incomplete")
    dropped = [k for k in ring.kids if k != target.kid]
    if ring.path is not None and dropped:
        ring.drop(set(dropped))
    _put_state(db, None)
    return {"to": target.kid, "from": state["from"], "rows": rows, "blobs": files, "resumed": resumed,
            "dropped": dropped,
            "env": ring.path is None}
