"""Escalating reminders for late acknowledgements (R3.1 tracking and supervision).

The ``directives.overdue`` job: at the acknowledgement deadline a 提醒, one deadline window
later a 催办, two windows later a 通报 — about this node itself if it is a late target, and
about each child whose subtree has not acknowledged (as its latest snapshot says). One
reminder per (directive, late node, level), so the job may run as often as it likes.
"""
from __future__ import annotations

import logging
from typing import Any

from federation.storage import write_tx
from node.directives.common import aware, db_time
from node.directives.models import Directive, DirectiveRelay, DirectiveReminder
from node.directives.progress import subtree
from node.runtime import Node

log = logging.getLogger(__name__)

REMINDER_LEVELS = {1: "提醒", 2: "催办", 3: "通报"}


def reminder_level(late_s: float, window_s: float) -> int:
    if late_s < 0:
        return 0
    if late_s < window_s:
        return 1
    if late_s < 2 * window_s:
        return 2
    return 3


def check_overdue(node: Node) -> list[dict[str, Any]]:
    """Raise escalating reminders (1 提醒 at the deadline, 2 催办 one window later, 3 通报
    two windows later) here about this node itself and about each late child. Idempotent:
    one reminder per (directive, late node, level). Returns the new ones."""
    now = node.now()
    new: list[dict[str, Any]] = []
    rows = list(Directive.select()
                .where((Directive.status == "active") & (Directive.ack_due_at < db_time(now))))
    for row in rows:
        window = row.ack_within_minutes * 60.0
        late_s = (now - aware(row.ack_due_at)).total_seconds()
        level = reminder_level(late_s, window)
        if level == 0:
            continue
        late: list[tuple[str, str, str]] = []
        if row.is_target and row.acknowledged_at is None:
            late.append((node.code, "self", node.config.name))
        view = subtree(node, row)
        for relay in DirectiveRelay.children_of(row.directive_id):
            entry = view["nodes"].get(relay.child)
            if entry is not None and entry.get("target") and entry["status"] != "acknowledged":
                late.append((relay.child, "child", relay.child_name or relay.child))
        if not late:
            continue
        with write_tx(node.db):
            for code, about, name in late:
                for lv in range(1, level + 1):
                    exists = DirectiveReminder.get_or_none(
                        (DirectiveReminder.directive_id == row.directive_id)
                        & (DirectiveReminder.late_node == code) & (DirectiveReminder.level == lv))
                    if exists is not None:
                        continue
                    who = "本单位" if about == "self" else f"下级 {name}（{code}）"
                    message = (f"【{REMINDER_LEVELS[lv]}】{who}未在时限内签收指令《{row.title}》（{row.directive_id}），"
                               f"已超时 {int(late_s // 60)} 分钟 / {code} has not acknowledged {row.directive_id}, "
                               f"{int(late_s // 60)} min overdue (level {lv})")
                    DirectiveReminder.insert(directive_id=row.directive_id, late_node=code, level=lv,
                                             raised_at=db_time(now), about=about, message=message).execute()
                    log.warning("%s", message)
                    new.append({"directive_id": row.directive_id, "node": code, "level": lv, "about": about,
                                "message": message})
    return new
