"""Case input documents for tests: the CONTRACT §5 example and variations."""
from __future__ import annotations

import copy
from typing import Any

# The CONTRACT §5 example, filled in: a real category code (G0303 家用电器) and a real USCC.
EXAMPLE: dict[str, Any] = {
    "kind": "complaint",
    "report_target": None,
    "channel": "phone",
    "received_at": "2026-09-29T10:00:00+08:00",
    "urgency": "general",
    "complainant": {"name": "张三", "phone": "13800000000", "address": "深圳市南山区科技园",
                    "anonymous": False},
    "respondent": {"name": "深圳市某某电器有限公司", "uscc": "914403001922038216",
                   "region_code": "440305", "address": "深圳市南山区粤海街道"},
    "category": "G0303",
    "summary": "新买的冰箱不制冷，商家拒绝退货",
    "description": "2026年9月20日购买冰箱一台，使用三天后不制冷，要求退货被拒。",
    "amount": "1299.00",
    "extensions": {},
}


def complaint(**overrides: Any) -> dict[str, Any]:
    body = copy.deepcopy(EXAMPLE)
    body.update(overrides)
    return body


def report(target: str = "business", **overrides: Any) -> dict[str, Any]:
    body = complaint(kind="report", report_target=target,
                     summary="某超市销售过期食品", description="货架上多件酸奶已过保质期。",
                     category="G0101", amount=None)
    body.update(overrides)
    return body


def staff_report(**overrides: Any) -> dict[str, Any]:
    body = report("staff", summary="执法人员收受商户财物", description="某所工作人员检查时收受礼品。",
                  respondent={"name": "某市场监管所工作人员", "region_code": "440305"},
                  complainant={"anonymous": True}, category="S99")
    body.update(overrides)
    return body


def consultation(**overrides: Any) -> dict[str, Any]:
    body = {"kind": "consultation", "channel": "web", "category": "S0301",
            "summary": "网购商品七天无理由退货如何计算",
            "received_at": "2026-09-29T11:00:00+08:00"}
    body.update(overrides)
    return body
