"""The trust store: own chain, learned records and keys, revocations, and the policy check.

Serves RELIABILITY rules 14-16 and failures F11 (a rotated-out key still resolves, so
queued documents verify), F12 (a revoked node is refused; a replayed older revocation list
is refused), F14 (a child speaks only for its own subtree) and F15 (a route that already
lists this node is a loop), CONTRACT §3 (``link revoke`` ends trust; the child receives the
chain up to the root) and R7.1.

All functions work on the tables of ``federation.models`` as bound by the caller
(``node.activate()``); nothing here opens a database or reads a clock. Times come in as
aware datetimes; the division table comes in as ``is_within``.

Trust anchors of a node are its own keys, the keys of its own chain (ancestors up to the
root) and the keys it has already learned through verified records; rotated-out keys stay
anchors (rule 14), revoked ones do not. A node's own record and its ancestors' records are
learned only from its parent (``vouched_by``): a child cannot tell a node who its
ancestors are. When the parent hands down a chain whose root is new — a province that
was a self-signed root has joined HQ — the parent's record, carrying the key this node
already trusts for it, vouches for that root (the same trust the child gave the parent's
chain at ``link join``).

Revocation lists are cumulative, signed by their issuer, versioned per issuer (a version
not above the stored one is refused: no rollback) and expire after 30 days (no freeze);
an issuer revokes only within its own subtree. Revocation of a node does not cascade to
its children: they keep their own records and may be re-linked elsewhere.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from peewee import Database, fn

from federation import docsign, keys, storage
from federation.canonical import canonical_bytes
from federation.models import KnownKey, Link, LocalState, NodeRecord, RevocationEntry
from federation.records import (
    RECORD_TYPE,
    ROTATION_TYPE,
    IsWithin,
    TrustError,
    format_time,
    make_record,
    make_rotation,
    parse_time,
    sign_record,
    verify_chain,
)

__all__ = [
    "REVOCATION_TTL",
    "REVOCATION_TYPE",
    "ROLES",
    "TrustError",
    "ancestor_codes",
    "apply_revocation_list",
    "ensure_own_record",
    "is_revoked",
    "issue_revocation",
    "learn_records",
    "own_chain",
    "own_code",
    "own_record",
    "policy_check",
    "record_rotation",
    "records_for",
    "refresh_revocation_list",
    "resolve_key",
    "revocation_lists",
    "revoke_locally",
    "store_records",
    "write_tx",
]

REVOCATION_TYPE = "revocation-list"
REVOCATION_TTL = timedelta(days=30)
ROLES = ("parent", "child", "peer")
#: LocalState key touched whenever this node's own chain changes (own record replaced on
#: join, an ancestor's record re-issued, a key rotated): the cue to push the chain down.
CHAIN_CHANGED_AT = "chain_changed_at"
_LIST_KEY = "revocation_list:"
_VERSION_KEY = "revocation_version:"
_ISSUED_AT_SKEW = timedelta(minutes=5)


class _DigestLRU:
    """Digests of signatures already verified, bounded; shared by every node of the process.

    A digest covers record *and* public key, so "this record verifies under this key" is
    a fact independent of which node asks, and a batch carrying the same chain again
    costs no Ed25519 verification.
    """

    def __init__(self, maxsize: int = 8192) -> None:
        self._maxsize = maxsize
        self._items: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, digest: str) -> bool:
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return True
            return False

    def add(self, digest: str) -> None:
        with self._lock:
            self._items[digest] = None
            self._items.move_to_end(digest)
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


SIGNATURE_CACHE = _DigestLRU()


# -- small helpers ----------------------------------------------------------------------


def _db() -> Database:
    database: Database = KnownKey._meta.database
    return database


def write_tx() -> Any:
    """A write transaction on the bound database (SQLite: IMMEDIATE, so two writers never
    deadlock upgrading a read lock); nested inside another, a savepoint."""
    return storage.write_tx(_db())


def _aware(at: datetime | None) -> datetime | None:
    # PostgreSQL ``timestamp`` columns hand back naive datetimes; we store UTC.
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)


def _code_of(code_or_key_id: str) -> str:
    return code_or_key_id.partition("#")[0]


def _body(doc: Mapping[str, Any]) -> str:
    return canonical_bytes(doc).decode("utf-8")


def _load(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    return doc


def own_code() -> str:
    """This node's code (``LocalState.node_code``)."""
    code = LocalState.get_value("node_code")
    if not code:
        raise TrustError("no_record", "数据库中缺少节点身份 / this store holds no node identity")
    return str(code)


# -- own record and chain ---------------------------------------------------------------


def own_record() -> dict[str, Any] | None:
    """This node's stored record (self-signed root or signed by its parent), or None."""
    row = NodeRecord.get_or_none(NodeRecord.code == own_code())
    return None if row is None else _load(row.body)


def ensure_own_record(
    keypair: keys.KeyPair, *, level: str, name: str, url: str, now: datetime,
    seal_key: str | None = None,
) -> dict[str, Any]:
    """Return this node's record, self-signing a root record at first need.

    A node with no parent is the root of its own chain until it joins one (a province
    linked before HQ exists); ``links.join_parent`` later replaces the record.
    """
    code = own_code()
    if keys.parse_key_id(keypair.key_id)[0] != code:
        raise ValueError(f"key {keypair.key_id} is not this node's ({code})")
    with write_tx():
        row = NodeRecord.get_or_none(NodeRecord.code == code)
        if row is not None:
            return _load(row.body)
        record = sign_record(
            make_record(
                code=code, level=level, name=name, url=url, key_id=keypair.key_id,
                public_key=keypair.public_b64, issuer=None, issued_at=now, seal_key=seal_key,
            ),
            keypair,
        )
        NodeRecord.create(
            code=code, key_id=keypair.key_id, issuer=None, body=_body(record), updated_at=now
        )
        return record


def _walk_up(start: str, stop: set[str]) -> list[dict[str, Any]]:
    """Stored records from ``start`` up its issuers until a code in ``stop`` or the root."""
    out: list[dict[str, Any]] = []
    code: str | None = start
    while code is not None and code not in stop:
        row = NodeRecord.get_or_none(NodeRecord.code == code)
        if row is None:
            break
        stop.add(code)
        record = _load(row.body)
        out.append(record)
        code = record.get("issuer")
    return out


def _rotations_of(codes: Iterable[str]) -> list[dict[str, Any]]:
    codes = list(codes)
    if not codes:
        return []
    rows = (
        KnownKey.select(KnownKey.statement)
        .where(KnownKey.node_code.in_(codes) & KnownKey.statement.is_null(False))
        .order_by(KnownKey.node_code, KnownKey.valid_from)
    )
    return [_load(str(row.statement)) for row in rows]


def rotations_of(code: str) -> list[dict[str, Any]]:
    """The key-rotation statements held for one node, oldest first (one statement)."""
    return _rotations_of([code])


def own_chain() -> list[dict[str, Any]]:
    """Own record, then its issuer's, … up to the root; then the key-rotation statements
    of those nodes (so keys rotated since the records were signed verify too)."""
    code = own_code()
    records = _walk_up(code, set())
    if not records:
        raise TrustError(
            "no_record", f"节点 {code} 尚无节点记录 / node {code} has no node record yet"
        )
    return records + _rotations_of(r["code"] for r in records)


def ancestor_codes() -> tuple[str | None, set[str]]:
    """(parent code, codes of every ancestor in the stored own chain)."""
    records = _walk_up(own_code(), set())
    if not records:
        return None, set()
    return records[0].get("issuer"), {r["code"] for r in records[1:]}


def records_for(origins: Iterable[str]) -> list[dict[str, Any]]:
    """What a receiver needs to verify documents from ``origins``: own chain, plus the
    stored records (and rotations) from each known origin up to where it meets the chain.

    Origins this node knows nothing about, and revoked ones, add nothing.
    """
    chain = own_chain()
    included = {r["code"] for r in chain if r.get("type") == RECORD_TYPE}
    extra: list[dict[str, Any]] = []
    for origin in dict.fromkeys(origins):
        if origin in included or is_revoked(origin):
            continue
        extra.extend(_walk_up(origin, included))
    return chain + extra + _rotations_of(r["code"] for r in extra)


# -- keys and revocation ---------------------------------------------------------------


def resolve_key(key_id: str) -> str | None:
    """The public key (base64) of ``key_id``; None if unknown or revoked (key or node).

    Rotated-out keys still resolve (rule 14, F11). One query: this sits on every
    request's path.
    """
    code = _code_of(key_id)
    revoked = RevocationEntry.select(RevocationEntry.subject).where(
        RevocationEntry.subject.in_([key_id, code])
    )
    row = (
        KnownKey.select(KnownKey.public_key)
        .where(
            (KnownKey.key_id == key_id)
            & (KnownKey.node_code == code)
            & KnownKey.revoked_at.is_null()
            & ~fn.EXISTS(revoked)
        )
        .first()
    )
    return None if row is None else str(row.public_key)


def is_revoked(code_or_key_id: str) -> bool:
    """True if the node (or the key, or the key's node) is revoked."""
    subjects = [code_or_key_id]
    if "#" in code_or_key_id:
        subjects.append(_code_of(code_or_key_id))
        if (
            KnownKey.select()
            .where((KnownKey.key_id == code_or_key_id) & KnownKey.revoked_at.is_null(False))
            .exists()
        ):
            return True
    return bool(RevocationEntry.select().where(RevocationEntry.subject.in_(subjects)).exists())


def _revoked_among(subjects: Iterable[str]) -> set[str]:
    subjects = set(subjects)
    if not subjects:
        return set()
    rows = RevocationEntry.select(RevocationEntry.subject).where(
        RevocationEntry.subject.in_(list(subjects))
    )
    return {str(row.subject) for row in rows}


def _known_keys(key_ids: Iterable[str]) -> dict[str, str]:
    """Usable known keys among ``key_ids`` (not revoked, nor their node): two queries."""
    key_ids = set(key_ids)
    if not key_ids:
        return {}
    revoked = _revoked_among(key_ids | {_code_of(k) for k in key_ids})
    rows = KnownKey.select(KnownKey.key_id, KnownKey.node_code, KnownKey.public_key).where(
        KnownKey.key_id.in_(list(key_ids)) & KnownKey.revoked_at.is_null()
    )
    return {
        str(row.key_id): str(row.public_key)
        for row in rows
        if row.key_id not in revoked and row.node_code not in revoked
        and _code_of(row.key_id) == row.node_code
    }


def _apply_entries(
    issuer: str, version: int, entries: Iterable[Mapping[str, Any]], now: datetime
) -> list[str]:
    """Store revocations and end trust in their keys and links; return subjects new here."""
    entries = list(entries)
    applied: list[str] = []
    held = _revoked_among(str(entry["subject"]) for entry in entries)
    for entry in entries:
        subject = str(entry["subject"])
        if subject not in held:
            # The first revocation of a subject is kept (its time and reason); the insert
            # still ignores a conflict, should another writer have raced us to it.
            (
                RevocationEntry.insert(
                    subject=subject,
                    list_issuer=issuer,
                    list_version=version,
                    revoked_at=now,
                    reason=str(entry.get("reason", "")),
                )
                .on_conflict_ignore()
                .execute()
            )
            held.add(subject)
            applied.append(subject)
        if "#" in subject:
            target = KnownKey.key_id == subject
        else:
            target = KnownKey.node_code == subject
            reason = f"已吊销 / revoked by {issuer}: {entry.get('reason', '')}".strip()
            (
                Link.update(state="revoked", state_reason=reason)
                .where((Link.code == subject) & (Link.state != "revoked"))
                .execute()
            )
        KnownKey.update(revoked_at=now).where(target & KnownKey.revoked_at.is_null()).execute()
    return applied


def _check_subject(subject: object) -> str:
    if not isinstance(subject, str):
        raise TrustError("malformed", "吊销对象须为节点代码或密钥编号 / subject must be a string")
    code = _code_of(subject)
    if not (code.isascii() and code.isdigit() and len(code) in (6, 9)):
        raise TrustError(
            "malformed",
            f"吊销对象须为节点代码或密钥编号 / subject {subject!r} is neither a node code nor a key id",
        )
    if "#" in subject:
        try:
            keys.parse_key_id(subject)
        except keys.KeyFormatError as exc:
            raise TrustError("malformed", str(exc)) from None
    return subject


def _stored_list(issuer: str) -> dict[str, Any] | None:
    text = LocalState.get_value(_LIST_KEY + issuer)
    return None if text is None else _load(text)


def _stored_version(issuer: str) -> int:
    return int(LocalState.get_value(_VERSION_KEY + issuer) or "0")


def _sign_list(
    issuer: str, version: int, entries: list[dict[str, Any]], keypair: keys.KeyPair, now: datetime
) -> dict[str, Any]:
    doc = {
        "type": REVOCATION_TYPE,
        "v": 1,
        "issuer": issuer,
        "version": version,
        "issued_at": format_time(now),
        "expires_at": format_time(now + REVOCATION_TTL),
        "entries": sorted(entries, key=lambda e: str(e["subject"])),
    }
    return docsign.sign_document(doc, keypair)


def issue_revocation(
    subject: str, reason: str, keypair: keys.KeyPair, now: datetime
) -> dict[str, Any]:
    """Revoke ``subject`` (a node code or key id): sign and store this node's next list.

    The list is cumulative (every subject this node has revoked), its version the
    previous one plus one, ``expires_at`` 30 days on. The caller checks the subject lies
    in this node's subtree (``links.revoke_link`` does).
    """
    issuer = keys.parse_key_id(keypair.key_id)[0]
    subject = _check_subject(subject)
    if subject == issuer:
        raise TrustError("not_allowed", f"节点不能吊销自身 / {issuer} cannot revoke itself")
    with write_tx():
        previous = _stored_list(issuer)
        entries = [e for e in (previous or {}).get("entries", []) if e["subject"] != subject]
        entries.append({"subject": subject, "reason": reason, "revoked_at": format_time(now)})
        version = max(_stored_version(issuer), int((previous or {}).get("version", 0))) + 1
        doc = _sign_list(issuer, version, entries, keypair, now)
        LocalState.put(_VERSION_KEY + issuer, str(version))
        LocalState.put(_LIST_KEY + issuer, _body(doc))
        _apply_entries(issuer, version, [entries[-1]], now)
    return doc


def revoke_locally(subject: str, reason: str, now: datetime) -> None:
    """End this node's own trust in ``subject`` without publishing a list: for a node
    outside this node's subtree (its parent, a peer), which it may not revoke for others."""
    subject = _check_subject(subject)
    with write_tx():
        _apply_entries(own_code(), 0, [{"subject": subject, "reason": reason}], now)


def refresh_revocation_list(
    keypair: keys.KeyPair, now: datetime, *, min_remaining: timedelta = timedelta(days=10)
) -> dict[str, Any] | None:
    """Re-sign this node's own list (next version, same entries) when it expires within
    ``min_remaining``; None when there is no list or it is fresh enough. For a scheduled
    job: an expired list is refused downstream, so lists must be renewed (no freeze)."""
    issuer = keys.parse_key_id(keypair.key_id)[0]
    with write_tx():
        previous = _stored_list(issuer)
        if previous is None:
            return None
        if parse_time(previous["expires_at"], "expires_at") - now > min_remaining:
            return None
        version = max(_stored_version(issuer), int(previous["version"])) + 1
        doc = _sign_list(issuer, version, list(previous["entries"]), keypair, now)
        LocalState.put(_VERSION_KEY + issuer, str(version))
        LocalState.put(_LIST_KEY + issuer, _body(doc))
    return doc


def revocation_lists() -> list[dict[str, Any]]:
    """The latest list of every issuer this node holds (its own included), to forward down."""
    rows = LocalState.select().where(LocalState.key.startswith(_LIST_KEY)).order_by(LocalState.key)
    return [_load(row.value) for row in rows]


def _check_list_shape(doc: Mapping[str, Any]) -> None:
    fields = {"type", "v", "issuer", "version", "issued_at", "expires_at", "entries", "sig"}
    if not isinstance(doc, Mapping) or set(doc) != fields:
        raise TrustError("malformed", "吊销列表格式错误 / malformed revocation list")
    if doc["type"] != REVOCATION_TYPE or doc["v"] != 1:
        raise TrustError("malformed", "吊销列表类型错误 / not a revocation list v1")
    if not isinstance(doc["issuer"], str) or type(doc["version"]) is not int or doc["version"] < 1:
        raise TrustError("malformed", "吊销列表签发者或版本错误 / bad issuer or version")
    if not isinstance(doc["entries"], list):
        raise TrustError("malformed", "吊销列表条目须为列表 / entries must be a list")
    for entry in doc["entries"]:
        if (
            not isinstance(entry, Mapping)
            or set(entry) != {"subject", "reason", "revoked_at"}
            or not isinstance(entry["reason"], str)
        ):
            raise TrustError("malformed", "吊销条目格式错误 / malformed revocation entry")
        _check_subject(entry["subject"])
        parse_time(entry["revoked_at"], "revoked_at")


def apply_revocation_list(
    doc: Mapping[str, Any], is_within: IsWithin, now: datetime
) -> list[str]:
    """Verify and apply an issuer's revocation list; return the subjects newly revoked.

    Refused (``TrustError``): a bad or unknown signature, a signer that is not the issuer,
    a version not above the one stored for that issuer (no rollback, F12), an expired list
    (no freeze), a subject outside the issuer's subtree or the issuer itself.
    """
    _check_list_shape(doc)
    issuer: str = doc["issuer"]
    sig = doc["sig"]
    signer = sig.get("key_id") if isinstance(sig, Mapping) else None
    if not isinstance(signer, str) or _code_of(signer) != issuer:
        raise TrustError(
            "bad_signature",
            f"吊销列表须由签发者 {issuer} 签名 / the list must be signed by its issuer {issuer}",
        )
    try:
        docsign.verify_document(doc, resolve_key)
    except docsign.DocumentSignatureError as exc:
        code = "unknown_anchor" if exc.code == "unknown_key" else "bad_signature"
        raise TrustError(code, f"吊销列表签名无效 / revocation list: {exc.message}") from None
    if parse_time(doc["expires_at"], "expires_at") <= now:
        raise TrustError(
            "expired_list",
            f"{issuer} 的吊销列表（第 {doc['version']} 版）已过期 / revocation list v{doc['version']}"
            f" of {issuer} expired at {doc['expires_at']}",
        )
    if parse_time(doc["issued_at"], "issued_at") > now + _ISSUED_AT_SKEW:
        raise TrustError("future", "吊销列表签发时间在未来 / revocation list issued in the future")
    for entry in doc["entries"]:
        subject_code = _code_of(entry["subject"])
        if entry["subject"] == issuer or not is_within(subject_code, issuer):
            raise TrustError(
                "outside_subtree",
                f"{issuer} 无权吊销 {entry['subject']}（不在其辖区内） / {issuer} may not revoke "
                f"{entry['subject']}: outside its subtree",
            )
    with write_tx():
        stored = _stored_version(issuer)
        if doc["version"] <= stored:
            raise TrustError(
                "stale_list",
                f"{issuer} 的吊销列表第 {doc['version']} 版不新于已存第 {stored} 版，拒绝回滚"
                f" / revocation list v{doc['version']} of {issuer} is not newer than stored "
                f"v{stored} (rollback refused)",
            )
        LocalState.put(_VERSION_KEY + issuer, str(doc["version"]))
        LocalState.put(_LIST_KEY + issuer, _body(doc))
        return _apply_entries(issuer, doc["version"], doc["entries"], now)


# -- learning records --------------------------------------------------------------------


class _Anchors(Mapping[str, str]):
    """Known keys, fetched in one go, plus roots vouched for by the parent."""

    def __init__(self, known: dict[str, str]) -> None:
        self._keys = known

    def __getitem__(self, key_id: str) -> str:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key_id: str, public_b64: str) -> None:
        self._keys[key_id] = public_b64


def _signer_of(doc: Mapping[str, Any]) -> str | None:
    sig = doc.get("sig")
    key_id = sig.get("key_id") if isinstance(sig, Mapping) else None
    return key_id if isinstance(key_id, str) else None


def _already_held(batch: list[Mapping[str, Any]]) -> bool:
    """True when every entry is stored byte-for-byte already (the common repeat batch)."""
    codes = {str(d.get("code")) for d in batch if d.get("type") == RECORD_TYPE}
    rotation_keys = {str(d.get("key_id")) for d in batch if d.get("type") == ROTATION_TYPE}
    bodies = {
        str(row.code): str(row.body)
        for row in NodeRecord.select(NodeRecord.code, NodeRecord.body).where(
            NodeRecord.code.in_(list(codes))
        )
    } if codes else {}
    statements = {
        str(row.key_id): row.statement
        for row in KnownKey.select(KnownKey.key_id, KnownKey.statement).where(
            KnownKey.key_id.in_(list(rotation_keys))
        )
    } if rotation_keys else {}
    for doc in batch:
        try:
            body = _body(doc)
        except (TypeError, ValueError):
            return False
        if doc.get("type") == RECORD_TYPE:
            if bodies.get(str(doc.get("code"))) != body:
                return False
        elif statements.get(str(doc.get("key_id"))) != body:
            return False
    return True


def learn_records(
    records: Iterable[Mapping[str, Any]],
    is_within: IsWithin,
    now: datetime,
    *,
    vouched_by: str | None = None,
) -> set[str]:
    """Verify records (and rotation statements) against this node's anchors and store them.

    ``vouched_by`` is the code of the node that sent them over a verified hop. Entries
    about this node itself are ignored; entries about its ancestors only count when
    ``vouched_by`` is its parent. A record older than the stored one for its code is
    verified but not stored. Returns the codes whose stored record changed (callers may
    ignore it; ``links.apply_records_update`` uses it to forward a changed chain down).
    Raises ``TrustError`` and stores nothing if any entry fails.
    """
    batch = [r for r in records]
    for doc in batch:
        if not isinstance(doc, Mapping):
            raise TrustError("malformed", "记录须为 JSON 对象 / every record must be a JSON object")
    me = own_code()
    parent, ancestors = ancestor_codes()
    from_parent = vouched_by is not None and vouched_by == parent
    keep = [
        doc
        for doc in batch
        if doc.get("code") != me and (from_parent or doc.get("code") not in ancestors)
    ]
    if not keep or _already_held(keep):
        return set()

    wanted: set[str] = set()
    for doc in keep:
        for name in ("key_id", "previous_key_id"):
            value = doc.get(name)
            if isinstance(value, str) and "#" in value:
                wanted.add(value)
        signer = _signer_of(doc)
        if signer is not None:
            wanted.add(signer)
    anchors = _Anchors(_known_keys(wanted))
    if from_parent:
        parent_record = next(
            (d for d in keep if d.get("type") == RECORD_TYPE and d.get("code") == parent), None
        )
        if (
            parent_record is not None
            and anchors.get(str(parent_record.get("key_id"))) == parent_record.get("public_key")
        ):
            for doc in keep:
                if doc.get("type") == RECORD_TYPE and doc.get("issuer") is None:
                    anchors.add(str(doc.get("key_id")), str(doc.get("public_key")))

    verified = verify_chain(keep, anchors, is_within, now, cache=SIGNATURE_CACHE)
    rotations = [d for d in keep if d.get("type") == ROTATION_TYPE]

    subjects = {code for code in verified} | {str(r["key_id"]) for r in verified.values()}
    subjects |= {str(d["key_id"]) for d in rotations} | {str(d["code"]) for d in rotations}
    subjects |= {s for d in keep if (s := _signer_of(d)) is not None}
    subjects |= {_code_of(s) for s in list(subjects)}
    revoked = _revoked_among(subjects)
    if revoked:
        first = min(revoked)
        raise TrustError("revoked", f"{first} 已被吊销 / {first} is revoked")

    return store_records(verified, rotations, now, ancestors=ancestors)


def store_records(
    verified: Mapping[str, Mapping[str, Any]],
    rotations: Iterable[Mapping[str, Any]],
    now: datetime,
    *,
    ancestors: set[str] | None = None,
    replace: bool = False,
) -> set[str]:
    """Store records and rotation statements that were verified; return codes changed.

    A stored record is replaced only by a later one (``issued_at``), unless ``replace``
    (``link join``: the parent's answer is the new truth). Keys go to ``KnownKey``.
    """
    rotations = list(rotations)
    ancestors = ancestors or set()
    changed: set[str] = set()
    with write_tx():
        stored = {
            str(row.code): row
            for row in NodeRecord.select().where(NodeRecord.code.in_(list(verified)))
        } if verified else {}
        new_keys = {str(r["key_id"]) for r in verified.values()} | {
            str(d["key_id"]) for d in rotations
        }
        known = {
            str(row.key_id): row
            for row in KnownKey.select().where(KnownKey.key_id.in_(list(new_keys)))
        } if new_keys else {}
        for code, record in verified.items():
            body = _body(record)
            issued_at = parse_time(record["issued_at"], "issued_at")
            row = stored.get(code)
            if row is None:
                NodeRecord.create(
                    code=code, key_id=record["key_id"], issuer=record["issuer"], body=body,
                    updated_at=now,
                )
                changed.add(code)
            elif row.body != body and (replace or _supersedes(_load(row.body), record, issued_at)):
                (
                    NodeRecord.update(
                        key_id=record["key_id"], issuer=record["issuer"], body=body,
                        updated_at=now,
                    )
                    .where(NodeRecord.code == code)
                    .execute()
                )
                changed.add(code)
            _remember_key(known, record["key_id"], code, record["public_key"], issued_at, None)
        for statement in rotations:
            issued_at = parse_time(statement["issued_at"], "issued_at")
            _remember_key(
                known, statement["key_id"], statement["code"], statement["public_key"],
                issued_at, _body(statement),
            )
            (
                KnownKey.update(valid_until=issued_at)
                .where(
                    (KnownKey.key_id == statement["previous_key_id"])
                    & KnownKey.valid_until.is_null()
                )
                .execute()
            )
            if statement["code"] in ancestors:
                changed.add(str(statement["code"]))
        if changed & ancestors:
            LocalState.put(CHAIN_CHANGED_AT, format_time(now))
    return changed


def _supersedes(stored: Mapping[str, Any], record: Mapping[str, Any], issued_at: datetime) -> bool:
    """A later record wins; at the same instant, one certified by a parent wins over a
    self-signed root (a province that joins HQ within the same second it was set up)."""
    stored_at = parse_time(stored["issued_at"], "issued_at")
    if stored_at != issued_at:
        return stored_at < issued_at
    return stored.get("issuer") is None and record.get("issuer") is not None


def _remember_key(
    known: dict[str, Any],
    key_id: str,
    code: str,
    public_key: str,
    valid_from: datetime,
    statement: str | None,
) -> None:
    row = known.get(key_id)
    if row is None:
        KnownKey.create(
            key_id=key_id, node_code=code, public_key=public_key, valid_from=valid_from,
            statement=statement,
        )
        known[key_id] = KnownKey(key_id=key_id, statement=statement, public_key=public_key)
        return
    if row.public_key != public_key:
        # Key ids are forever (rule 14): one id, one key. A reinstalled node that reused
        # its id must rotate to a new one.
        raise TrustError(
            "conflict",
            f"密钥编号 {key_id} 已登记为另一公钥 / key id {key_id} is already known with a "
            "different public key",
        )
    if statement is not None and row.statement is None:
        KnownKey.update(statement=statement).where(KnownKey.key_id == key_id).execute()


def record_rotation(
    previous: keys.KeyPair, new: keys.KeyPair, now: datetime
) -> dict[str, Any]:
    """After ``node.runtime.rotate_key``: sign the statement that carries trust from the
    previous key to the new one, and store it with the new key (own chain carries it)."""
    statement = make_rotation(previous, new.key_id, new.public_b64, now)
    code = keys.parse_key_id(new.key_id)[0]
    with write_tx():
        row = KnownKey.get_or_none(KnownKey.key_id == new.key_id)
        if row is None:
            KnownKey.create(
                key_id=new.key_id, node_code=code, public_key=new.public_b64, valid_from=now,
                statement=_body(statement),
            )
        else:
            KnownKey.update(statement=_body(statement)).where(
                KnownKey.key_id == new.key_id
            ).execute()
        (
            KnownKey.update(valid_until=now)
            .where((KnownKey.key_id == previous.key_id) & KnownKey.valid_until.is_null())
            .execute()
        )
        LocalState.put(CHAIN_CHANGED_AT, format_time(now))
    return statement


# -- policy ------------------------------------------------------------------------------


def policy_check(
    sender_code: str,
    sender_role: str,
    doc_origin: str,
    doc_dest: str,
    route: Iterable[str],
    my_code: str,
    is_within: IsWithin,
) -> None:
    """May this node accept a travelling document from this sender? ``TrustError`` if not.

    A route that already lists this node is a loop (F15). From a child: only documents
    whose origin lies in that child's subtree (F14). From the parent: only documents
    addressed into this node's subtree. From a peer: both. ``sender_role`` is the role of
    the sender as seen from here (its ``Link.role``).
    """
    if my_code in list(route):
        raise TrustError(
            "loop",
            f"转发环路：路由中已有本节点 {my_code} / forwarding loop: the route already lists {my_code}",
        )
    if sender_role not in ROLES:
        raise TrustError("not_allowed", f"未知的链路角色 {sender_role!r} / unknown link role")
    if sender_role in ("child", "peer") and not is_within(doc_origin, sender_code):
        raise TrustError(
            "outside_subtree",
            f"下级 {sender_code} 不能代表 {doc_origin} 发送文档（不在其辖区内） / {sender_code} "
            f"may not speak for {doc_origin}: outside its subtree",
        )
    if sender_role in ("parent", "peer") and not is_within(doc_dest, my_code):
        raise TrustError(
            "not_for_me",
            f"上级 {sender_code} 发来的文档目的地 {doc_dest} 不在本节点 {my_code} 辖区内 / document "
            f"for {doc_dest} is not addressed into {my_code}'s subtree",
        )
