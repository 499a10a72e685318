"""What the Open311 interface offers: discovery, the service list, service definitions
(issue 12 item 5; CONTRACT §10; GeoReport v2 "Service Discovery", "GET Service List",
"GET Service Definition"; docs/open311.md).

A *service* is a category of the node's category table (``node.cases.categories``): the list
holds the leaves (what a consumer complains about: 预包装食品, 网络购物 …) grouped under their
parent; every known code, leaf or not, may be posted. Each service carries the same
attributes: what a 12315 case needs beyond Open311's standard fields (the kind, the
respondent, the amount, the demand).

Plain values in, plain values out; ``api.py`` renders them as JSON or XML.
"""
from __future__ import annotations

from typing import Any

from node.cases import categories
from node.errors import NodeError
from node.runtime import Node

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# The date this interface last changed what it offers (GeoReport "changeset").
CHANGESET = "2026-10-01T00:00:00+08:00"
FORMATS = ("text/xml", "application/json")
PREFIX = "/open311/v2"

KIND_VALUES = (("complaint", "投诉 / complaint"), ("report", "举报 / report"),
               ("consultation", "咨询 / consultation"))

# code, datatype, description (Chinese / English), datatype_description
ATTRIBUTES: tuple[tuple[str, str, str, str | None], ...] = (
    ("kind", "singlevaluelist",
     "类别：投诉、举报或咨询。未填时，给出姓名、电话和地址按投诉登记，否则按咨询登记 / kind: complaint, report or "
     "consultation; when absent: a complaint if name, phone and address are given, else a consultation", None),
    ("respondent_name", "string", "被投诉（举报）经营者名称 / name of the business complained about or reported", None),
    ("respondent_uscc", "string", "经营者统一社会信用代码 / the business's unified social credit code (USCC)",
     "18 位 / 18 characters (GB 32100)"),
    ("respondent_region_code", "string",
     "经营者所在地行政区划代码；投诉、举报必填，县局、市场监管所节点默认为本辖区 / the business's 6-digit division code; "
     "required for complaints and reports, defaults to the node's own county at a county or station node",
     "6 位数字（GB/T 2260）/ 6 digits (GB/T 2260)"),
    ("respondent_address", "string", "经营者地址 / the business's address", None),
    ("amount", "number", "涉及金额（元）/ amount involved (CNY)", "非负，至多两位小数，如 1299.00 / ≥ 0, at most two decimals"),
    ("demand", "text", "诉求 / what the consumer asks for", None),
)
ATTRIBUTE_CODES = frozenset(a[0] for a in ATTRIBUTES)


def check_jurisdiction(node: Node, jurisdiction_id: str | None) -> None:
    """``jurisdiction_id`` is the node code and may be omitted; any other value is a
    jurisdiction this endpoint does not serve (404)."""
    if jurisdiction_id not in (None, "") and jurisdiction_id != node.code:
        raise NodeError(404, "not_found", f"本接口只服务辖区 {node.code}，不服务 {jurisdiction_id[:20]} / this endpoint "
                                          f"serves jurisdiction {node.code} only", "jurisdiction_id")


def discovery(node: Node) -> dict[str, Any]:
    base = node.config.url.rstrip("/")
    return {
        "changeset": CHANGESET,
        "contact": f"{node.config.name or node.code}（辖区代码 / jurisdiction_id {node.code}）",
        "key_service": "API 密钥由本节点管理员签发（n12315 open311 key add）/ API keys are issued by this node's "
                       "administrator (n12315 open311 key add)",
        "endpoints": [{"specification": SPECIFICATION, "url": base + PREFIX, "changeset": CHANGESET,
                       "type": "production", "formats": list(FORMATS)}],
    }


def _service(table: Any, code: str) -> dict[str, Any]:
    cat = table.get(code)
    parent = table.get(cat.parent) if cat.parent else None
    return {
        "service_code": cat.code,
        "service_name": cat.name,
        "description": f"{cat.name} / {cat.name_en}",
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(k for k in (cat.name, cat.name_en, parent.name if parent else None) if k),
        "group": parent.name if parent else cat.name,
    }


def services(node: Node) -> list[dict[str, Any]]:
    """The service list: every leaf of the category table, in the table's order."""
    table = categories(node)
    return [_service(table, item["code"]) for item in table.items() if not table.children(item["code"])]


def known_service(node: Node, code: str) -> str:
    """``code`` when the category table knows it, else 404 naming ``service_code``."""
    if not categories(node).is_known(code):
        raise NodeError(404, "not_found", f"未知服务代码 {code[:32]} / unknown service_code {code[:32]}", "service_code")
    return code


def service_definition(node: Node, code: str) -> dict[str, Any]:
    known_service(node, code)
    attributes = []
    for order, (attr, datatype, description, datatype_description) in enumerate(ATTRIBUTES, 1):
        item: dict[str, Any] = {"variable": True, "code": attr, "datatype": datatype, "required": False,
                                "datatype_description": datatype_description, "order": order,
                                "description": description}
        if datatype == "singlevaluelist":
            item["values"] = [{"key": k, "name": n} for k, n in KIND_VALUES]
        attributes.append(item)
    return {"service_code": code, "attributes": attributes}
