"""Direct-report points (R4.2 数据直报): HQ designates up to
``stats.max_direct_report_points`` nodes (``designate``); the designation travels down the
tree on the ``stats`` channel as a ``stats.designate`` document (``send_designations``,
retried by every rollup until a branch is linked). A designated node then also sends each
snapshot as ``stats.direct`` straight to HQ (``node.stats.snapshots``), which keeps those
figures in ``StatsDirectRow``, apart from the national totals, so they never count twice.
``direct_points`` lists the points with the last report received from each.
"""
from __future__ import annotations

import logging
from typing import Any

from peewee import fn

from node.db import write_tx
from node.divisions import load_divisions
from node.errors import NodeError, invalid
from node.network import replicator
from node.runtime import Node
from node.stats.common import (
    CHANNEL,
    DOC_DESIGNATE,
    HQ_CODE,
    STREAM_DIRECT,
    db_time,
    is_hq,
    next_counter,
    show_time,
)
from node.stats.models import StatsDirectPoint, StatsOutbound, StatsSnapshot, StatsState
from node.stats.snapshots import flag_all_days
from replication import documents, outbox, topology
from replication.engine import Delivery
from replication.registry import ApplyError

log = logging.getLogger(__name__)


# -- at HQ ---------------------------------------------------------------------------------------
def designate(node: Node, code: str, designated: bool = True) -> dict[str, Any]:
    """At HQ: designate (or withdraw) a direct-report point; the order travels down."""
    if not is_hq(node) or not node.config.capabilities.designates_direct_report:
        raise NodeError(409, "not_hq", "只有总局可以指定数据直报点 / only HQ designates direct-report points")
    if not isinstance(code, str) or load_divisions().level_of(code) is None or code == HQ_CODE:
        raise invalid("code", f"{str(code)[:20]} 不是有效的下级节点代码 / not a node code below HQ")
    now = node.now()
    with write_tx(node.db):
        point = StatsDirectPoint.get_or_none(StatsDirectPoint.code == code)
        if designated:
            active = StatsDirectPoint.select().where(StatsDirectPoint.active == "1").count()
            limit = node.config.stats.max_direct_report_points
            if (point is None or point.active != "1") and active >= limit:
                raise NodeError(409, "too_many_points", f"数据直报点已达上限 {limit} 个 / at most {limit} "
                                                        f"direct-report points", "code")
        elif point is None or point.active != "1":
            raise NodeError(404, "not_designated", f"{code} 不是数据直报点 / {code} is not a direct-report point",
                            "code")
        version = next_counter(node, "designation_version")
        values = {"active": "1" if designated else "0", "version": version, "changed_at": db_time(now)}
        (StatsDirectPoint.insert(code=code, sent_version=0, **values)
            .on_conflict(conflict_target=[StatsDirectPoint.code],
                         update={getattr(StatsDirectPoint, k): v for k, v in values.items()})
            .execute())
    send_designations(node)
    return direct_points(node)[code]


def send_designations(node: Node) -> int:
    """Enqueue each designation not yet sent whose branch is linked (retried by the rollup)."""
    if not is_hq(node):
        return 0
    rep = replicator(node)
    now = node.now()
    sent = 0
    with write_tx(node.db):
        for point in StatsDirectPoint.select().where(StatsDirectPoint.sent_version < StatsDirectPoint.version):
            hop = topology.next_hop(rep, point.code)
            if hop is None:
                continue
            body = {"code": point.code, "designated": point.active == "1", "version": int(point.version)}
            doc = documents.create(DOC_DESIGNATE, channel=CHANNEL, origin=node.code, dest=point.code, body=body,
                                   keypair=node.keypair, now=now, doc_id=f"statsdes-{point.code}-v{point.version}")
            outbox.enqueue(rep, hop, CHANNEL, doc, [node.code], now)
            StatsDirectPoint.update(sent_version=point.version).where(StatsDirectPoint.code == point.code).execute()
            sent += 1
    return sent


def direct_points(node: Node) -> dict[str, dict[str, Any]]:
    """HQ's direct-report points with the last direct snapshot received from each."""
    last = dict(StatsSnapshot.select(StatsSnapshot.origin, fn.MAX(StatsSnapshot.received_at))
                .where(StatsSnapshot.stream == STREAM_DIRECT)
                .group_by(StatsSnapshot.origin).tuples())
    out = {}
    for p in StatsDirectPoint.select().order_by(StatsDirectPoint.code):
        out[p.code] = {"code": p.code, "designated": p.active == "1", "version": int(p.version),
                       "delivered": int(p.sent_version) >= int(p.version), "changed_at": show_time(p.changed_at),
                       "last_report_at": show_time(last.get(p.code))}
    return out


# -- at the point ----------------------------------------------------------------------------------
def apply_designate(node: Node, delivery: Delivery) -> None:
    """Handler of ``stats.designate``: HQ's (un)designation of a direct-report point."""
    if delivery.origin != HQ_CODE:
        raise ApplyError("只有总局可以指定数据直报点 / only HQ designates direct-report points")
    body = delivery.body
    if (set(body) != {"code", "designated", "version"} or body["code"] != delivery.dest
            or not isinstance(body["designated"], bool) or isinstance(body["version"], bool)
            or not isinstance(body["version"], int)):
        raise ApplyError("直报点指定文档格式错误 / malformed designation")
    if delivery.dest != node.code:
        hop = topology.next_hop(delivery.rep, delivery.dest)
        if hop is None:
            raise ApplyError(f"无法转发直报点指定至 {delivery.dest}：没有链路 / no link towards {delivery.dest}")
        delivery.forward(hop)
        return
    current = int(StatsState.get_value("designation_version", "0") or 0)
    if body["version"] <= current:
        log.info("stats: designation v%s already superseded by v%s", body["version"], current)
        return
    StatsState.put("designation_version", str(body["version"]))
    StatsState.put("direct_report", "1" if body["designated"] else "0")
    if body["designated"]:
        flag_all_days("direct")
    else:
        StatsOutbound.delete().where(StatsOutbound.target == "direct").execute()
    log.info("stats: direct-report point %s", "designated" if body["designated"] else "withdrawn")
