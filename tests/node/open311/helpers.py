"""What the Open311 tests share: a key, a full complaint form, XML reading."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from node.open311 import keys

BASE = "/open311/v2"

# A complaint as a civic app sends it: the standard fields plus the service's attributes.
COMPLAINT_FORM: dict[str, str] = {
    "service_code": "G0303",
    "description": "新买的冰箱不制冷，商家拒绝退货\n2026年9月20日购买冰箱一台，使用三天后不制冷，要求退货被拒。",
    "first_name": "三",
    "last_name": "张",
    "phone": "13800000000",
    "email": "zhangsan@example.cn",
    "address_string": "深圳市南山区科技园科苑路 1 号",
    "attribute[respondent_name]": "深圳市某某电器有限公司",
    "attribute[respondent_uscc]": "914403001922038216",
    "attribute[respondent_address]": "深圳市南山区粤海街道 8 号",
    "attribute[amount]": "1299.00",
    "attribute[demand]": "退货退款",
}
PERSONAL = ("张三", "13800000000", "zhangsan@example.cn", "科苑路")


def add_key(node: Any, name: str = "civic-app") -> str:
    """A key made by the service ``n12315 open311 key add`` calls."""
    with node.activate():
        return keys.add_key(name, node.now())


def post(app_client: Any, form: dict[str, str], key: str | None, fmt: str = "json", **extra: str):
    data = dict(form, **extra)
    if key is not None:
        data["api_key"] = key
    return app_client.client.post(f"{BASE}/requests.{fmt}", data=data)


def parse_xml(resp: Any) -> ET.Element:
    """The body as XML: declared UTF-8, served as text/xml, well-formed."""
    body = resp.get_data()
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), body[:60]
    assert resp.headers["Content-Type"] == "text/xml; charset=utf-8"
    return ET.fromstring(body)


def xml_error(resp: Any) -> tuple[int, str]:
    root = parse_xml(resp)
    assert root.tag == "errors" and [e.tag for e in root] == ["error"]
    return int(root.findtext("error/code")), root.findtext("error/description")
