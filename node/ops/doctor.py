"""``n12315 doctor``: is this node ready? (CONTRACT §13; issue 16 item 4)

Each check gives ``{"name", "status": "ok"|"warn"|"fail", "detail"}``; the detail is one line,
Chinese first with English, and says how to fix what is wrong. ``ok`` is false when one check
fails (warnings allowed). The database is read, never migrated (a check that migrated would
hide what it checks), and a link is probed with one signed, empty batch — the same request
the sender makes, so a peer that answers it accepts this node's signature.
"""
from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from federation.models import LocalState
from node.config import load_config
from node.db import open_database, sqlite_path
from node.deadlines import SHANGHAI, work_calendar
from node.errors import NodeError
from node.network import replicator
from node.ops.backup import last_backup, schema_version
from node.runtime import Node
from replication import documents

Check = dict[str, str]
LOW_DISK_FAIL_BYTES = 1 << 30          # below 1 GiB free the database cannot grow safely
LOW_DISK_WARN_BYTES = 5 << 30


def check(name: str, status: str, detail: str) -> Check:
    return {"name": name, "status": status, "detail": detail}


def run_checks(home: Path, *, open_node: Callable[[], Node], latest_schema: int, now: datetime,
               backup_max_age_hours: float = 26.0, probe_links: bool = True) -> list[Check]:
    """Every check, in the order an operator would fix them."""
    out: list[Check] = []
    try:
        config = load_config(home)
    except NodeError as exc:
        return [check("config", "fail", f"{exc.message}（修正 node.toml，见 docs/config.md / fix node.toml, "
                                        "see docs/config.md）"), _keys(home, None)]
    out.append(check("config", "ok", f"{config.level} {config.code} {config.name}"))
    out.append(_keys(home, sqlite_path(config.db_url)))
    db_check, version = _database(config.db_url, latest_schema)
    out.append(db_check)
    if db_check["status"] == "fail" or version > latest_schema:
        return out + [_disk(home), _backups(home, now, backup_max_age_hours)]
    try:
        node = open_node()
    except NodeError as exc:
        return out + [check("identity", "fail", exc.message), _disk(home), _backups(home, now, backup_max_age_hours)]
    try:
        out.append(_calendar(node))
        links = _links(node, probe_links)
        out.append(_clock(node))
        out += links
    finally:
        node.close()
    return out + [_disk(home), _backups(home, now, backup_max_age_hours)]


def _keys(home: Path, db_file: Path | None) -> Check:
    """Key files 0600 in a 0700 folder; the database file and its WAL private too."""
    problems, keys = [], sorted((home / "keys").glob("*")) if (home / "keys").is_dir() else []
    if not keys:
        return check("keys", "fail", f"{home / 'keys'} 中没有密钥文件（从备份恢复：n12315 restore --with-keys）"
                                     f" / no key file in {home / 'keys'} (restore it from a backup)")
    candidates = [(p, 0o600) for p in keys] + [(home / "keys", 0o700)]
    if db_file is not None:
        candidates += [(p, 0o600) for p in (db_file, db_file.with_name(db_file.name + "-wal")) if p.exists()]
    for path, _ in candidates:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            problems.append(f"{path} {oct(mode)}")
    if problems:
        return check("keys", "fail", "他人可读 / readable by others: " + ", ".join(problems)
                     + f"（修复 fix: chmod 700 {home / 'keys'}; chmod 600 {home / 'keys'}/* 及数据库文件 / and the database files）")
    return check("keys", "ok", f"{len(keys)} 个密钥文件仅属主可读 / {len(keys)} key file(s), owner only")


def _database(url: str, latest: int) -> tuple[Check, int]:
    try:
        db = open_database(url)
        try:
            db.execute_sql("SELECT 1")
            version = schema_version(db)
        finally:
            db.close()
    except NodeError as exc:
        return check("database", "fail", exc.message), 0
    except Exception as exc:  # noqa: BLE001 - any driver error: the database is not reachable
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return check("database", "fail", f"无法连接数据库：{first}（检查 db_url 与数据库服务）/ cannot reach the "
                                         "database (check node.db_url and the database server)"), 0
    if version > latest:
        return check("database", "fail", f"数据库架构 {version} 比本程序（{latest}）新：请升级 n12315 / schema "
                                         f"{version} is newer than this n12315 knows ({latest}): upgrade n12315"), version
    if version < latest:
        return check("database", "warn", f"架构 {version}，最新 {latest}：运行 n12315 migrate（先备份）/ schema "
                                         f"{version}, latest {latest}: run n12315 migrate (backs up first)"), version
    return check("database", "ok", f"可连接，架构为最新 {version} / reachable, schema at the latest ({version})"), version


def calendar_years(node: Node) -> tuple[int, int]:
    """The years whose calendar must be loaded: this year (deadlines are counted today) and the
    next (a deadline set in the autumn runs into it). ``doctor`` and ``/metrics`` check the same."""
    year = node.now().astimezone(SHANGHAI).year
    return year, year + 1


def _calendar(node: Node) -> Check:
    """This year must be loaded; next year should be — the 2027 gap shows here first."""
    year, _ = calendar_years(node)
    cal = work_calendar(node)
    this, nxt = cal.warnings_for(year), cal.warnings_for(year + 1)
    fix = ("（安装新版 chinesecalendar：pip install -U chinesecalendar，或在节点目录 calendar.toml 中录入国务院通知）"
           " / (pip install -U chinesecalendar, or enter the State Council notice in the home's calendar.toml)")
    if this:
        return check("calendar", "fail", f"{year} 年工作日历未载入 / {year} calendar missing: {this[0]} {fix}")
    if nxt:
        return check("calendar", "warn", f"{year + 1} 年工作日历未载入 / {year + 1} calendar missing {fix}")
    return check("calendar", "ok", f"{year}–{year + 1} 年工作日历已载入 / calendar covers {year} and {year + 1}")


def _parent(node: Node) -> Any:
    from federation.models import Link
    with node.activate():
        return Link.get_or_none((Link.role == "parent") & (Link.state != "revoked"))


def _clock(node: Node) -> Check:
    parent = _parent(node)
    if parent is None:
        return check("clock", "ok", "无上级，不比对时钟 / no parent to compare the clock with")
    limit = node.config.replication.clock_skew_s
    try:
        before = time.time()
        resp = requests.get(parent.url.rstrip("/") + "/healthz", timeout=node.config.replication.request_timeout_s)
        after = time.time()
        theirs = datetime.fromisoformat(resp.json()["time"]).timestamp()
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        return check("clock", "warn", f"无法读取上级 {parent.code} 的时间：{type(exc).__name__}（见 link 检查）/ cannot "
                                      f"read the parent's time")
    skew = theirs - (before + after) / 2
    fix = "（启用 NTP：timedatectl set-ntp true）/ (enable NTP: timedatectl set-ntp true)"
    line = f"与上级 {parent.code} 相差 {skew:+.1f} 秒 / {skew:+.1f} s from parent {parent.code}"
    if abs(skew) > limit:
        return check("clock", "fail", f"{line}，超过 ±{limit} 秒，签名将被拒绝 / beyond ±{limit} s: signatures are refused {fix}")
    if abs(skew) > limit / 2:
        return check("clock", "warn", f"{line} {fix}")
    return check("clock", "ok", line)


def _links(node: Node, probe: bool) -> list[Check]:
    from federation.models import Link
    with node.activate():
        rows = list(Link.select().where(Link.state != "revoked").order_by(Link.role, Link.code))
        epoch = LocalState.get_value("epoch") or "e0"
    if not rows:
        fix = "" if node.level == "hq" else "（n12315 link join --parent URL --token TOKEN）"
        return [check("links", "ok" if node.level == "hq" else "warn", f"尚无链路 / no links yet {fix}".strip())]
    out = []
    silent_after = timedelta(hours=node.config.replication.silent_after_hours)
    for link in rows:
        name = f"link {link.code}"
        if link.state == "stopped":
            out.append(check(name, "fail", f"链路已停止：{link.state_reason}（查明后 n12315 link mode / 见运维手册"
                                           f"“链路静默”）/ link stopped: see docs/operations.md, a silent link"))
            continue
        if link.pull_only or not probe:
            seen = link.last_seen_at
            if seen is not None and seen.tzinfo is None:
                seen = seen.replace(tzinfo=node.now().tzinfo)
            if seen is None or node.now() - seen > silent_after:
                out.append(check(name, "warn", f"仅由对端拉取，{node.config.replication.silent_after_hours} 小时内未见其请求"
                                               " / pull-only peer silent: check the peer's doctor and network"))
            else:
                out.append(check(name, "ok", f"仅由对端拉取，最近请求 {seen.isoformat()} / pull-only, last seen"))
            continue
        out.append(_probe(node, link, epoch, name))
    return out


def _probe(node: Node, link: Any, epoch: str, name: str) -> Check:
    from replication.sender import signed_post
    rep = replicator(node)
    batch = documents.Batch(sender=node.code, receiver=link.code, channel=documents.CHANNELS[0], epoch=epoch,
                            entries=[], records=[]).to_dict()
    started = time.monotonic()
    try:
        with node.activate():
            resp = signed_post(rep, link.url.rstrip("/") + "/federation/v1/push", batch)
    except requests.RequestException as exc:
        return check(name, "fail", f"无法连接 {link.url}：{type(exc).__name__}（检查网络、防火墙与对端服务）/ "
                                   f"unreachable: check the network, firewall and the peer's service")
    ms = (time.monotonic() - started) * 1000
    if resp.status_code == 200:
        return check(name, "ok", f"可达，签名被接受（{ms:.0f} ms）/ reachable, signature accepted ({ms:.0f} ms)")
    try:
        error = resp.json().get("error", {})
        message = error.get("message") if isinstance(error, dict) else str(error)
    except ValueError:
        message = resp.text[:120]
    if resp.status_code in (401, 403):
        return check(name, "fail", f"对端拒绝本节点签名：{message}（时钟？密钥轮换未送达？见运维手册）/ the peer "
                                   "refuses this node's signature (clock? key rotation not delivered?)")
    return check(name, "fail", f"对端应答 {resp.status_code}：{message} / the peer answered {resp.status_code}")


def _disk(home: Path) -> Check:
    usage = shutil.disk_usage(home)
    free_gib = usage.free / (1 << 30)
    line = f"剩余 {free_gib:.1f} GiB（{usage.free * 100 / usage.total:.0f}%）/ {free_gib:.1f} GiB free"
    if usage.free < LOW_DISK_FAIL_BYTES:
        return check("disk", "fail", f"{line}：立即清理或扩容 / free space or grow the disk now")
    if usage.free < LOW_DISK_WARN_BYTES or usage.free < usage.total * 0.1:
        return check("disk", "warn", f"{line}：尽快扩容 / grow the disk soon")
    return check("disk", "ok", line)


def _backups(home: Path, now: datetime, max_age_hours: float) -> Check:
    fix = "（n12315 backup --to FILE，每日定时：见运维手册）/ (n12315 backup --to FILE, daily: see docs/operations.md)"
    last = last_backup(home)
    if last is None:
        return check("backups", "warn", f"尚无备份 / no backup yet {fix}")
    at = datetime.fromisoformat(last["at"])
    age_h = (now - at).total_seconds() / 3600
    where = last.get("file", "")
    if not os.path.exists(where):
        return check("backups", "warn", f"最近的备份文件已不在 {where} / the last backup file is gone {fix}")
    if age_h > max_age_hours:
        return check("backups", "warn", f"最近备份在 {age_h:.0f} 小时前 / last backup {age_h:.0f} h ago {fix}")
    return check("backups", "ok", f"最近备份 {at.isoformat()}（{age_h:.1f} 小时前）{where} / last backup {age_h:.1f} h ago")
