"""CONTRACT §2-§8 form by form: every form written in the contract, exactly as written.

Each test sends one form of ``../shared/CONTRACT.md`` — a command line, a request body, a
query string — with nothing richer than the contract shows, and asserts what a user sees:
exit code, the one stderr line, status code, body keys and values. A form the node refuses
or answers differently fails here, naming the section.

* CLI forms go through the real console entry point (``admin_cli.cli.main``: one stderr line
  and the exit code of every refusal) inside ``CliRunner``; ``link join``/``sync`` reach the
  parent's Flask app through ``tests.harness_adapter.FlaskAdapter`` (as tests/test_cli_links.py).
* HTTP forms go through the Flask test client (``app_client``), multi-node forms (routing
  actions, directives) through ``tests.network.harness.Network``.
* Everything runs on SQLite and on PostgreSQL (the ``db_backend`` parametrization).
"""
from __future__ import annotations

import base64
import json
import re
import stat
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import click
import pytest
import requests
from click.testing import CliRunner, Result

from tests.conftest import ApiClient, drop_pg_schema, new_pg_url
from tests.harness_adapter import FlaskAdapter
from tests.network.harness import FakeClock as NetClock
from tests.network.harness import Network

CASES = "/api/v1/cases"
STATS_GROUP_BY = "kind,channel,region,category,urgency,status"
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"


# == the console, in-process ==================================================================
@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": []})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def _console(argv: tuple[str, ...]) -> None:
    """``n12315 ARGV…`` through the console-script entry point (``main``), which turns every
    refusal into one stderr line and a non-zero exit."""
    from admin_cli.cli import main
    saved = sys.argv
    sys.argv = ["n12315", *argv]
    try:
        with mock.patch("logging.basicConfig"):   # leave pytest's logging alone
            main()
    finally:
        sys.argv = saved


def n12315(*args: str, env: dict[str, str | None] | None = None) -> Result:
    env = {"N12315_HOME": None, **(env or {})}
    return CliRunner().invoke(_console, list(args), env=env)


def ok(res: Result) -> Result:
    assert res.exit_code == 0, (res.exit_code, res.stdout, res.stderr, res.exception)
    return res


def last_line(res: Result) -> str:
    return res.stdout.strip().splitlines()[-1].strip()


def assert_refused(res: Result) -> str:
    """Non-zero exit, exactly one line on stderr, no traceback (CONTRACT §2)."""
    assert res.exit_code != 0, res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {res.stderr!r}"
    assert "Traceback" not in res.output
    return lines[0]


def snapshot(home: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(home)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(home.rglob("*")) if p.is_file()}


@pytest.fixture
def pg_urls(db_backend: str):
    """``fresh() -> --db value or None``: a new PostgreSQL schema per home, dropped at teardown."""
    made: list[str] = []

    def fresh() -> str | None:
        if db_backend == "sqlite":
            return None
        url = new_pg_url()
        made.append(url)
        return url

    yield fresh
    for url in made:
        drop_pg_schema(url)


def cli_init(home: Path, level: str, code: str, url: str, db: str | None, *, name: str | None = None,
             env: dict | None = None, with_home: bool = True) -> Result:
    args = (["--home", str(home)] if with_home else []) + [
        "init", "--level", level, "--code", code, "--name", name or f"市场监督管理局 {code}", "--url", url]
    if db:
        args += ["--db", db]
    return n12315(*args, env=env)


LEVEL_CODES = [("hq", "000000"), ("province", "440000"), ("prefecture", "440300"), ("county", "440305"),
               ("station", "440305001")]


# == §2 node home and lifecycle ================================================================
@pytest.mark.parametrize("level, code", LEVEL_CODES, ids=[lc[0] for lc in LEVEL_CODES])
def test_s2_init_each_level_then_status_json(tmp_path, pg_urls, level, code):
    home = tmp_path / "home"
    db = pg_urls()
    res = ok(cli_init(home, level, code, "http://127.0.0.1:8316", db))
    assert res.stderr == ""
    keys = [p for p in (home / "keys").iterdir() if p.is_file()]
    assert keys and any(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys)
    res = ok(n12315("--home", str(home), "status", "--json"))
    doc = json.loads(res.stdout)
    assert doc["node"]["code"] == code and doc["node"]["level"] == level
    assert doc["node"]["url"] == "http://127.0.0.1:8316"
    assert doc["links"] == []


def test_s2_init_refuses_an_existing_home_and_changes_nothing(tmp_path, pg_urls):
    home = tmp_path / "home"
    ok(cli_init(home, "county", "440305", "http://127.0.0.1:8316", pg_urls()))
    before = snapshot(home)
    for level, code in (("county", "440305"), ("prefecture", "440300")):
        res = cli_init(home, level, code, "http://127.0.0.1:9999", pg_urls())
        line = assert_refused(res)
        assert line
        assert snapshot(home) == before


def test_s2_home_from_the_environment(tmp_path, pg_urls):
    home = tmp_path / "env-home"
    ok(cli_init(home, "county", "440305", "http://127.0.0.1:8316", pg_urls(), env={"N12315_HOME": str(home)},
                with_home=False))
    assert (home / "node.toml").is_file()
    res = ok(n12315("status", "--json", env={"N12315_HOME": str(home)}))
    assert json.loads(res.stdout)["node"]["code"] == "440305"


def test_s2_home_defaults_to_dot_n12315_home(tmp_path, pg_urls, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok(cli_init(tmp_path, "county", "440305", "http://127.0.0.1:8316", pg_urls(), with_home=False))
    assert (tmp_path / "n12315-home" / "node.toml").is_file()
    assert json.loads(ok(n12315("status", "--json")).stdout)["node"]["code"] == "440305"


def test_s2_sync_wait_on_a_node_without_links(tmp_path, pg_urls):
    home = tmp_path / "home"
    ok(cli_init(home, "county", "440305", "http://127.0.0.1:8316", pg_urls()))
    ok(n12315("--home", str(home), "sync", "--wait", "5"))


# -- a parent and a child linked through the CLI (the parent's app reached in-process) --------
PARENT_URL = "http://440300.test"
CHILD_URL = "http://440305.test"


@pytest.fixture
def linked(tmp_path, pg_urls, monkeypatch):
    """``(parent_home, child_home, parent_app)``: 440300 and 440305 made by ``init``; the
    child's transport reaches the parent's Flask app. Not yet joined."""
    from node import home as node_home
    from node.app import create_app
    parent_home, child_home = tmp_path / "p", tmp_path / "c"
    ok(cli_init(parent_home, "prefecture", "440300", PARENT_URL, pg_urls()))
    ok(cli_init(child_home, "county", "440305", CHILD_URL, pg_urls()))
    parent = node_home.open_node(parent_home)
    app = create_app(parent)
    session = FlaskAdapter(app, PARENT_URL).mount(requests.Session())
    real_open = node_home.open_node

    def open_with_transport(home, **kw):
        node = real_open(home, **kw)
        node.transport = session
        return node

    monkeypatch.setattr(node_home, "open_node", open_with_transport)
    yield parent_home, child_home, app
    parent.close()


def join(parent_home: Path, child_home: Path) -> None:
    token = last_line(ok(n12315("--home", str(parent_home), "link", "invite", "--child", "440305")))
    ok(n12315("--home", str(child_home), "link", "join", "--parent", PARENT_URL, "--token", token))


def test_s2_sync_wait_and_status_json_on_a_linked_child(linked):
    parent_home, child_home, _ = linked
    join(parent_home, child_home)
    ok(n12315("--home", str(child_home), "sync", "--wait", "10"))
    doc = json.loads(ok(n12315("--home", str(child_home), "status", "--json")).stdout)
    (link,) = doc["links"]
    assert link["code"] == "440300"
    assert {"backlog", "last_ok", "last_error"} <= set(link), link
    assert link["backlog"] == 0 and link["last_ok"]


# == §3 links ================================================================================
LINK_KEYS = {"code", "level", "role", "url", "state", "backlog", "last_ok"}


def test_s3_invite_join_list(linked):
    parent_home, child_home, _ = linked
    res = ok(n12315("--home", str(parent_home), "link", "invite", "--child", "440305"))
    token = last_line(res)
    assert token and " " not in token
    ok(n12315("--home", str(child_home), "link", "join", "--parent", PARENT_URL, "--token", token))
    for home, code, level, role, url in ((parent_home, "440305", "county", "child", CHILD_URL),
                                         (child_home, "440300", "prefecture", "parent", PARENT_URL)):
        doc = json.loads(ok(n12315("--home", str(home), "link", "list", "--json")).stdout)
        assert isinstance(doc, list) and len(doc) == 1
        (row,) = doc
        assert set(row) >= LINK_KEYS, row
        assert (row["code"], row["level"], row["role"], row["url"]) == (code, level, role, url)
        assert row["role"] in ("parent", "child", "peer")
        assert isinstance(row["backlog"], int)


def test_s3_join_refuses_a_token_used_or_for_another_code(linked):
    parent_home, child_home, _ = linked
    other = last_line(ok(n12315("--home", str(parent_home), "link", "invite", "--child", "440306")))
    assert_refused(n12315("--home", str(child_home), "link", "join", "--parent", PARENT_URL, "--token", other))
    assert json.loads(ok(n12315("--home", str(child_home), "link", "list", "--json")).stdout) == []
    token = last_line(ok(n12315("--home", str(parent_home), "link", "invite", "--child", "440305")))
    ok(n12315("--home", str(child_home), "link", "join", "--parent", PARENT_URL, "--token", token))
    assert_refused(n12315("--home", str(child_home), "link", "join", "--parent", PARENT_URL, "--token", token))
    assert len(json.loads(ok(n12315("--home", str(parent_home), "link", "list", "--json")).stdout)) == 1


def test_s3_federation_node_is_public(app_client):
    r = app_client.client.get("/federation/v1/node")
    assert r.status_code == 200
    doc = r.get_json()
    assert {"code", "level", "name", "url", "public_key"} <= set(doc)
    assert (doc["code"], doc["level"]) == ("440305", "county")
    assert len(base64.b64decode(doc["public_key"])) == 32


# == §4 users ================================================================================
ROLES = ("admin", "intake", "handler", "supervisor", "leader", "discipline", "analyst")


@pytest.fixture
def county_home(tmp_path, pg_urls) -> Path:
    home = tmp_path / "county"
    ok(cli_init(home, "county", "440305", CHILD_URL, pg_urls()))
    return home


@pytest.fixture
def serving(county_home):
    """The county's app, as ``serve`` runs it (its own node object, its own caches)."""
    from node.app import create_app
    from node.home import open_node
    node = open_node(county_home)
    yield create_app(node).test_client()
    node.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", ROLES)
def test_s4_user_add_each_role_prints_a_working_token_last(county_home, serving, role):
    res = ok(n12315("--home", str(county_home), "user", "add", f"{role}1", "--role", role))
    token = last_line(res)
    r = serving.get(CASES, headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    line = assert_refused(n12315("--home", str(county_home), "user", "add", f"{role}1", "--role", role))
    assert f"{role}1" in line


def test_s4_user_token_new_token_works_old_one_stops(county_home):
    from node.app import create_app
    from node.home import open_node
    old = last_line(ok(n12315("--home", str(county_home), "user", "add", "handler1", "--role", "handler")))
    new = last_line(ok(n12315("--home", str(county_home), "user", "token", "handler1")))
    assert new != old
    node = open_node(county_home)
    try:
        client = create_app(node).test_client()
        assert client.get(CASES, headers=bearer(new)).status_code == 200
        assert client.get(CASES, headers=bearer(old)).status_code == 401
    finally:
        node.close()


def test_s4_user_token_while_serving_old_token_stops(county_home, serving):
    """The node serves (and has seen the old token); the operator runs ``user token``."""
    old = last_line(ok(n12315("--home", str(county_home), "user", "add", "handler1", "--role", "handler")))
    assert serving.get(CASES, headers=bearer(old)).status_code == 200
    new = last_line(ok(n12315("--home", str(county_home), "user", "token", "handler1")))
    assert serving.get(CASES, headers=bearer(new)).status_code == 200
    assert serving.get(CASES, headers=bearer(old)).status_code == 401, "the old token still works"


@pytest.mark.parametrize("headers", [{}, bearer("n12315_not-a-token"), {"Authorization": "Bearer "}],
                         ids=["no-token", "bad-token", "empty-token"])
def test_s4_no_or_bad_token_is_401(app_client, headers):
    for method, path in (("GET", CASES), ("POST", CASES), ("GET", "/api/v1/stats"),
                         ("POST", "/api/v1/directives")):
        r = app_client.client.open(path, method=method, headers=headers, json={} if method == "POST" else None)
        assert r.status_code == 401, (method, path, r.status_code)
        assert set(r.get_json()["error"]) == {"code", "message", "field"}


@pytest.mark.parametrize("role, method, path", [
    ("analyst", "POST", CASES), ("supervisor", "POST", CASES), ("intake", "POST", "/api/v1/directives"),
    ("handler", "GET", "/api/v1/stats")], ids=lambda v: str(v).replace("/", "_"))
def test_s4_a_role_that_may_not_is_403(app_client, role, method, path):
    body = None
    if method == "POST":
        body = example_case(app_client) if path == CASES else DIRECTIVE_BODY
    before = app_client.count_rows()
    r = app_client.client.open(path, method=method, headers=app_client.headers(role), json=body)
    assert r.status_code == 403, (r.status_code, r.get_json())
    assert app_client.count_rows() == before


# == §5 cases ================================================================================
# The block of CONTRACT §5, character for character.
CONTRACT_EXAMPLE = """
{
  "kind": "complaint",                 // consultation | complaint | report
  "report_target": null,               // for reports: "business" | "staff"
  "channel": "phone",                  // phone | visit | letter | web | open311 | complaint_point | association | media | direct_report
  "received_at": "2026-09-29T10:00:00+08:00",   // optional, default now
  "urgency": "general",                // general | urgent | critical  (一般 / 紧急 / 特别紧急)
  "complainant": {"name": "张三", "phone": "13800000000", "address": "…", "anonymous": false},
  "respondent": {"name": "…有限公司", "uscc": "91440300…", "region_code": "440305", "address": "…"},
  "category": "…",                     // a code from the node's category table (GET /api/v1/categories)
  "summary": "…", "description": "…",
  "amount": "1299.00",                 // CNY, decimal string, optional
  "extensions": {}                     // province extension fields, validated against that province's schema
}
"""
CHANNELS = ("phone", "visit", "letter", "web", "open311", "complaint_point", "association", "media",
            "direct_report")
URGENCIES = ("general", "urgent", "critical")
USCC = "914403001922038216"   # a real check digit (GB 32100-2015), tests/node/cases/examples.py


def _contract_json() -> dict[str, Any]:
    return json.loads(re.sub(r"//[^\n]*", "", CONTRACT_EXAMPLE))


def category_code(api: ApiClient) -> str:
    r = api.client.get("/api/v1/categories")
    assert r.status_code == 200
    codes = [i["code"] for i in r.get_json()["items"]]
    return "G0303" if "G0303" in codes else next(i["code"] for i in r.get_json()["items"] if i["parent"])


def example_case(api: ApiClient, **over: Any) -> dict[str, Any]:
    """The contract's example with its "…" filled in with real values."""
    body = _contract_json()
    body["complainant"]["address"] = "深圳市南山区科技园科苑路 15 号"
    body["respondent"].update(name="深圳市某某电器有限公司", uscc=USCC, address="深圳市南山区粤海街道")
    body["category"] = category_code(api)
    body["summary"] = "新买的冰箱不制冷，商家拒绝退货"
    body["description"] = "2026年9月20日购买冰箱一台，使用三天后不制冷，要求退货被拒。"
    body.update(over)
    return body


def assert_error(r, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:500])
    doc = r.get_json()
    assert list(doc) == ["error"] and set(doc["error"]) == {"code", "message", "field"}, doc
    if field is not None:
        assert doc["error"]["field"] == field, doc
    return doc["error"]


def create(api: ApiClient, body: dict[str, Any], role: str = "intake") -> dict[str, Any]:
    r = api.post(CASES, body, role=role)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_s5_the_contract_example_verbatim(app_client):
    body = example_case(app_client)
    assert set(body) == {"kind", "report_target", "channel", "received_at", "urgency", "complainant", "respondent",
                         "category", "summary", "description", "amount", "extensions"}
    for role in ("intake", "handler", "admin"):
        r = app_client.post(CASES, body, role=role)
        assert r.status_code == 201, (role, r.get_json())
    case = r.get_json()
    assert re.fullmatch(r"440305-20260929-00000[1-3]", case["id"])
    assert case["status"] == "registered"
    assert case["accepting_node"] == case["handling_node"] == "440305"
    assert case["rule_set"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", case["deadlines"]["accept_by"])
    assert case["deadlines"]["conclude_by"] is None
    assert case["outcome"] is None
    assert case["amount"] == "1299.00" and case["received_at"] == "2026-09-29T10:00:00+08:00"
    for e in case["history"]:
        assert {"at", "node", "actor", "action", "from_status", "to_status", "note"} <= set(e)
        assert re.search(r"[+-]\d{2}:\d{2}$", e["at"])
    got = app_client.get(f"{CASES}/{case['id']}", role="analyst")
    assert got.status_code == 200 and got.get_json()["id"] == case["id"]


def test_s5_optional_fields_take_their_defaults(app_client):
    body = example_case(app_client)
    for key in ("received_at", "urgency", "amount", "report_target", "extensions", "description"):
        del body[key]
    case = create(app_client, body)
    assert case["urgency"] == "general"
    assert case["received_at"].startswith("2026-09-30T09:00:00") and case["received_at"].endswith("+08:00")
    assert case["id"].startswith("440305-20260930-")


@pytest.mark.parametrize("channel", CHANNELS)
def test_s5_each_channel(app_client, channel):
    assert create(app_client, example_case(app_client, channel=channel))["channel"] == channel


@pytest.mark.parametrize("urgency", URGENCIES)
def test_s5_each_urgency(app_client, urgency):
    assert create(app_client, example_case(app_client, urgency=urgency))["urgency"] == urgency


@pytest.mark.parametrize("kind", ("consultation", "complaint", "report"))
def test_s5_each_kind(app_client, kind):
    body = example_case(app_client, kind=kind)
    if kind == "report":
        body["report_target"] = "business"
    assert create(app_client, body)["kind"] == kind


def _report(api: ApiClient, complainant: dict[str, Any], target: str = "business") -> dict[str, Any]:
    body = example_case(api, kind="report", report_target=target, summary="某超市销售过期食品",
                        description="货架上多件酸奶已过保质期。", complainant=complainant)
    del body["amount"]
    return body


def test_s5_anonymous_report_without_name_or_phone(app_client):
    case = create(app_client, _report(app_client, {"anonymous": True}))
    assert case["kind"] == "report" and case["complainant"]["anonymous"] is True
    assert not case["complainant"].get("name") and not case["complainant"].get("phone")


def test_s5_anonymous_report_without_name_or_phone_keeping_the_address(app_client):
    """CONTRACT: "a report may be anonymous (complainant.anonymous: true, no name or phone)" —
    the example's complainant minus name and phone still has its address."""
    r = app_client.post(CASES, _report(app_client, {"address": "深圳市南山区科技园", "anonymous": True}))
    assert r.status_code == 201, r.get_json()


@pytest.mark.parametrize("target", ("business", "staff"))
def test_s5_report_targets_and_who_reads_staff_reports(app_client, target):
    case = create(app_client, _report(app_client, {"anonymous": True}, target))
    assert case["report_target"] == target
    for role in ROLES:
        r = app_client.get(f"{CASES}/{case['id']}", role=role)
        visible = target == "business" or role == "discipline"
        assert r.status_code == (200 if visible else 404), (role, r.status_code)


def test_s5_consultation_without_respondent(app_client):
    body = {"kind": "consultation", "channel": "web", "category": category_code(app_client),
            "summary": "网购商品七天无理由退货如何计算"}
    case = create(app_client, body)
    assert case["kind"] == "consultation" and case["status"] == "registered"


# -- GET /api/v1/cases --------------------------------------------------------------------
def _seed_three(api: ApiClient) -> list[dict[str, Any]]:
    a = create(api, example_case(api))
    b = create(api, example_case(api, summary="手机充电发烫", description="手机购买一周后充电时严重发烫。",
                                 respondent={"name": "深圳市某通讯器材有限公司", "region_code": "440305",
                                             "address": "深圳市南山区"}))
    c = create(api, {"kind": "consultation", "channel": "web", "category": category_code(api),
                     "summary": "网购商品七天无理由退货如何计算"})
    return [a, b, c]


def _list(api: ApiClient, query: str, role: str = "handler") -> dict[str, Any]:
    r = api.get(f"{CASES}?{query}", role=role)
    assert r.status_code == 200, (query, r.get_json())
    doc = r.get_json()
    assert set(doc) >= {"items", "next_cursor"}
    return doc


def test_s5_list_with_every_parameter_empty_as_written(app_client):
    cases = _seed_three(app_client)
    doc = _list(app_client, "status=&kind=&q=&limit=&cursor=")
    assert {c["id"] for c in doc["items"]} == {c["id"] for c in cases}
    assert doc["next_cursor"] is None


@pytest.mark.parametrize("query, picks", [
    ("status=registered", {0, 1, 2}), ("kind=complaint", {0, 1}), ("kind=consultation", {2}),
    ("q=不制冷", {0}), ("q=冰箱", {0}), ("q=使用三天后", {0}), ("q=某某电器", {0}), ("q=充电", {1}),
    ("q=通讯器材", {1}), ("q=洗衣机", set()), ("status=accepted", set()),
    ("status=registered&kind=complaint&q=发烫&limit=10&cursor=", {1}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_s5_list_each_parameter(app_client, query, picks):
    cases = _seed_three(app_client)
    doc = _list(app_client, query)
    assert {c["id"] for c in doc["items"]} == {cases[i]["id"] for i in picks}


def test_s5_list_limit_and_cursor(app_client):
    cases = _seed_three(app_client)
    seen, cursor = [], ""
    for _ in range(5):
        doc = _list(app_client, f"limit=1&cursor={cursor}")
        seen += [c["id"] for c in doc["items"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(c["id"] for c in cases) and len(seen) == 3


def test_s5_list_limit_500_is_cut_to_200_and_default_is_50(app_client):
    body = example_case(app_client)
    for _ in range(201):
        create(app_client, body)
    doc = _list(app_client, "limit=500")
    assert len(doc["items"]) == 200 and doc["next_cursor"]
    doc = _list(app_client, "")
    assert len(doc["items"]) == 50 and doc["next_cursor"]


def test_s5_categories_without_token(app_client):
    r = app_client.client.get("/api/v1/categories")
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert items and all({"code", "name", "name_en", "parent"} <= set(i) for i in items)


# -- actions --------------------------------------------------------------------------------
def act(api: ApiClient, cid: str, payload: dict[str, Any], role: str = "handler"):
    return api.post(f"{CASES}/{cid}/actions", payload, role=role)


def step(api: ApiClient, cid: str, payload: dict[str, Any]) -> dict[str, Any]:
    r = act(api, cid, payload)
    assert r.status_code == 200, (payload, r.get_json())
    return r.get_json()


def complaint_in(api: ApiClient, status: str) -> str:
    cid = create(api, example_case(api))["id"]
    if status in ("accepted", "in_mediation", "concluded"):
        step(api, cid, {"action": "accept"})
    if status == "in_mediation":
        step(api, cid, {"action": "mediate"})
    if status == "concluded":
        step(api, cid, {"action": "conclude", "outcome": "mediated", "amount_recovered": "100.00",
                        "note": "双方达成调解协议"})
    return cid


SIMPLE_ACTIONS = [
    ("registered", {"action": "accept"}, "accepted"),
    ("registered", {"action": "accept", "mode": "mediation"}, "accepted"),
    ("registered", {"action": "accept", "mode": "investigation"}, "accepted"),
    ("registered", {"action": "decline", "reason": "outside_remit"}, "declined"),
    ("registered", {"action": "decline", "reason": "不属于市场监督管理部门职责"}, "declined"),
    ("registered", {"action": "refer", "body": "深圳市消费者委员会", "reason": "属于消费者协会调解范围"}, "referred"),
    ("accepted", {"action": "mediate"}, "in_mediation"),
]


@pytest.mark.parametrize("start, payload, to_status", SIMPLE_ACTIONS,
                         ids=["accept", "accept-mediation", "accept-investigation", "decline-reason-code",
                              "decline-reason-text", "refer", "mediate"])
def test_s5_action(app_client, start, payload, to_status):
    cid = complaint_in(app_client, start)
    case = step(app_client, cid, payload)
    assert case["id"] == cid and case["status"] == to_status
    assert case["history"][-1]["action"] == payload["action"]
    if payload["action"] == "accept":
        assert case["deadlines"]["conclude_by"]


@pytest.mark.parametrize("start", ("accepted", "in_mediation"))
@pytest.mark.parametrize("outcome", ("mediated", "not_mediated", "settled", "withdrawn"))
def test_s5_conclude_complaint_each_outcome(app_client, start, outcome):
    cid = complaint_in(app_client, start)
    case = step(app_client, cid, {"action": "conclude", "outcome": outcome, "amount_recovered": "100.00",
                                  "note": "办结说明"})
    assert case["status"] == "concluded"
    assert case["outcome"]["outcome"] == outcome
    assert case["amount_recovered"] == "100.00"


def _report_in(api: ApiClient, outcome: str) -> str:
    """A report brought to ``filed``/``not_filed`` (through the node's own verify/file steps:
    the contract names no action for them)."""
    cid = create(api, _report(api, {"name": "李四", "phone": "13900000000"}))["id"]
    step(api, cid, {"action": "verify"})
    step(api, cid, {"action": "file" if outcome == "filed" else "not_file"})
    return cid


@pytest.mark.parametrize("outcome", ("filed", "not_filed"))
def test_s5_conclude_report_each_outcome(app_client, outcome):
    cid = _report_in(app_client, outcome)
    case = step(app_client, cid, {"action": "conclude", "outcome": outcome, "note": "办结说明"})
    assert case["status"] == "concluded" and case["outcome"]["outcome"] == outcome


@pytest.mark.parametrize("outcome", ("filed", "not_filed"))
def test_s5_conclude_report_with_every_listed_field(app_client, outcome):
    """``conclude`` (outcome, amount_recovered, note) — all three fields, on a report."""
    cid = _report_in(app_client, outcome)
    r = act(app_client, cid, {"action": "conclude", "outcome": outcome, "amount_recovered": "0.00",
                              "note": "办结说明"})
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize("satisfaction", ("satisfied", "basically_satisfied", "dissatisfied"))
def test_s5_feedback_each_satisfaction(app_client, satisfaction):
    cid = complaint_in(app_client, "concluded")
    case = step(app_client, cid, {"action": "feedback", "satisfaction": satisfaction})
    assert case["outcome"]["satisfaction"] == satisfaction


def test_s5_answer_a_consultation(app_client):
    cid = create(app_client, {"kind": "consultation", "channel": "phone", "category": category_code(app_client),
                              "summary": "预付卡退费规定"})["id"]
    case = step(app_client, cid, {"action": "answer", "text": "可依据《单用途商业预付卡管理办法》要求退费。"})
    assert case["status"] == "answered"


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", [b'{"kind": "complaint",', b"not json", b"[1, 2]", b""],
                         ids=["truncated", "not-json", "array", "empty"])
def test_s5_malformed_body_is_400_and_stores_nothing(app_client, raw):
    before = app_client.count_rows()
    r = app_client.post(CASES, data=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    assert app_client.count_rows() == before


@pytest.mark.parametrize("field, change", [
    ("respondent.uscc", lambda b: b["respondent"].update(uscc="914403001922038217")),
    ("respondent.region_code", lambda b: b["respondent"].update(region_code="449999")),
    ("kind", lambda b: b.update(kind="question")),
    ("channel", lambda b: b.update(channel="fax")),
    ("urgency", lambda b: b.update(urgency="high")),
    ("complainant.phone", lambda b: b["complainant"].pop("phone")),
    ("summary", lambda b: b.pop("summary")),
    ("respondent.legal_rep", lambda b: b["respondent"].update(legal_rep="王五")),
    ("colour", lambda b: b.update(colour="red")),
    ("amount", lambda b: b.update(amount="12.345")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_s5_validation_error_is_422_naming_the_field(app_client, field, change):
    body = example_case(app_client)
    change(body)
    before = app_client.count_rows()
    assert_error(app_client.post(CASES, body), 422, field)
    assert app_client.count_rows() == before


@pytest.mark.parametrize("payload, field", [
    ({"action": "accept", "mode": "arbitration"}, "mode"),
    ({"action": "accept", "priority": 1}, "priority"),
    ({"action": "teleport"}, "action"),
    ({"action": "conclude", "outcome": "won", "amount_recovered": "1.00", "note": "x"}, "outcome"),
    ({"action": "conclude", "outcome": "mediated", "amount_recovered": "-1.00", "note": "x"}, "amount_recovered"),
], ids=["mode", "unknown-field", "unknown-action", "outcome", "negative-recovered"])
def test_s5_action_validation_is_422_naming_the_field(app_client, payload, field):
    cid = complaint_in(app_client, "accepted" if payload["action"] == "conclude" else "registered")
    before = app_client.get(f"{CASES}/{cid}").get_json()
    assert_error(act(app_client, cid, payload), 422, field)
    assert app_client.get(f"{CASES}/{cid}").get_json() == before


@pytest.mark.parametrize("role", ("analyst", "supervisor", "leader"))
def test_s5_action_by_a_role_that_may_not_is_403(app_client, role):
    cid = complaint_in(app_client, "registered")
    assert_error(act(app_client, cid, {"action": "accept"}, role=role), 403)
    assert app_client.get(f"{CASES}/{cid}").get_json()["status"] == "registered"


@pytest.mark.parametrize("amount", [1299.00, 1299], ids=["float", "int"])
def test_s5_amount_as_a_json_number_is_refused_saying_so(app_client, amount):
    raw = json.dumps(example_case(app_client)).replace('"amount": "1299.00"', f'"amount": {amount!r}')
    before = app_client.count_rows()
    err = assert_error(app_client.post(CASES, data=raw, headers={"Content-Type": "application/json"}), 422,
                       "amount")
    assert re.search(r"JSON|number|string|字符串", err["message"]), err
    assert app_client.count_rows() == before


def test_s5_amount_recovered_as_a_json_number_is_refused(app_client):
    cid = complaint_in(app_client, "accepted")
    raw = b'{"action": "conclude", "outcome": "mediated", "amount_recovered": 100.00, "note": "x"}'
    r = app_client.post(f"{CASES}/{cid}/actions", data=raw, role="handler",
                        headers={"Content-Type": "application/json"})
    assert_error(r, 422, "amount_recovered")
    assert app_client.get(f"{CASES}/{cid}").get_json()["status"] == "accepted"


def test_s5_body_over_one_mib_is_413(app_client):
    body = example_case(app_client, description="很" * (400 * 1024))   # ~1.2 MB of UTF-8
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert len(raw) > 1024 * 1024
    before = app_client.count_rows()
    assert_error(app_client.post(CASES, data=raw, headers={"Content-Type": "application/json"}), 413)
    assert app_client.count_rows() == before


# -- actions across nodes: route, escalate, return ------------------------------------------
class Net:
    """A small tree built through init and invite/join; one user per (node, role)."""

    def __init__(self, net: Network):
        self.net = net
        self.tokens: dict[tuple[str, str], str] = {}

    def token(self, code: str, role: str) -> str:
        if (code, role) not in self.tokens:
            from node.accounts import service as users
            node = self.net.nodes[code]
            with node.activate():
                self.tokens[(code, role)] = users.add_user(f"{role}1", role, node.now())
        return self.tokens[(code, role)]

    def call(self, code: str, method: str, path: str, role: str = "handler", body: Any = None):
        return self.net.clients[code].open(path, method=method, json=body,
                                           headers=bearer(self.token(code, role)))

    def get(self, code: str, path: str, role: str = "handler") -> dict[str, Any]:
        r = self.call(code, "GET", path, role)
        assert r.status_code == 200, (code, path, r.get_json())
        return r.get_json()


@pytest.fixture
def gd(tmp_path, pg_urls):
    """Guangdong: 440000 → 440300 → 440305 → 440305001, on a clock near real time (so the CLI,
    which runs on the real clock, agrees with the harness)."""
    now = datetime.now(UTC).replace(microsecond=0)
    net = Network(tmp_path / "net", clock=NetClock(now), db_url_for=lambda code: pg_urls())
    for level, code in (("province", "440000"), ("prefecture", "440300"), ("county", "440305"),
                        ("station", "440305001")):
        net.add(level, code)
    net.link("440000", "440300")
    net.link("440300", "440305")
    net.link("440305", "440305001")
    yield Net(net)
    net.close()


def _net_case(gd: Net, code: str = "440305") -> str:
    body = {"kind": "complaint", "channel": "visit", "category": "G0303", "summary": "新买的冰箱不制冷",
            "complainant": {"name": "张三", "phone": "13800000000", "address": "深圳市南山区科技园"},
            "respondent": {"name": "深圳市某某电器有限公司", "uscc": USCC, "region_code": "440305"}}
    r = gd.call(code, "POST", CASES, "intake", body)
    assert r.status_code == 201, r.get_json()
    case = r.get_json()
    assert case["handling_node"] == code, case
    return case["id"]


def net_act(gd: Net, code: str, cid: str, payload: dict[str, Any]) -> dict[str, Any]:
    r = gd.call(code, "POST", f"{CASES}/{cid}/actions", "handler", payload)
    assert r.status_code == 200, (code, payload, r.get_json())
    return r.get_json()


def _escalated(gd: Net) -> str:
    cid = _net_case(gd)
    case = net_act(gd, "440305", cid, {"action": "escalate", "reason": "涉及多区连锁企业，超出本级权限"})
    assert case["status"] == "transferred" and case["handling_node"] == "440300"
    gd.net.settle()
    assert gd.get("440300", f"{CASES}/{cid}")["held_as"] == "handler"
    return cid


def test_s5_escalate_with_reason(gd):
    _escalated(gd)


@pytest.mark.parametrize("to", ("auto", "440305"))
def test_s5_route_to_auto_or_a_code(gd, to):
    cid = _escalated(gd)
    case = net_act(gd, "440300", cid, {"action": "route", "to": to})
    assert case["status"] == "transferred" and case["handling_node"] == "440305"
    gd.net.settle()
    at = gd.get("440305", f"{CASES}/{cid}")
    assert at["id"] == cid and at["held_as"] == "handler" and at["status"] == "registered"
    for code in ("440300", "440000"):      # "GET /api/v1/cases/<id> at any node that holds a copy"
        r = gd.call(code, "GET", f"{CASES}/{cid}")
        if code == "440300" or r.status_code != 404:
            assert r.status_code == 200 and r.get_json()["id"] == cid, (code, r.get_json())


def test_s5_return_with_reason(gd):
    cid = _escalated(gd)
    net_act(gd, "440300", cid, {"action": "route", "to": "440305"})
    gd.net.settle()
    case = net_act(gd, "440305", cid, {"action": "return", "reason": "被投诉人实际经营地不在本辖区"})
    assert case["status"] == "transferred" and case["handling_node"] == "440300"
    gd.net.settle()
    assert gd.get("440300", f"{CASES}/{cid}")["held_as"] == "handler"


# == §6 directives ===========================================================================
DIRECTIVE_BODY = {"title": "食物中毒应急处置", "body": "请立即赶赴现场，封存可疑食品并报告。", "severity": "severe",
                  "urgency": "immediate", "category": "food_safety", "targets": ["440300"],
                  "ack_within_minutes": 30}
BELOW = {"440300", "440305", "440305001"}


def settle_directives(gd: Net) -> None:
    """Sync every node, sending owed progress snapshots first (``serve`` does both on a
    timer), until a round sends nothing and every outbox is empty."""
    from node.directives import flush_progress
    net = gd.net
    for _ in range(100):
        flushed = 0
        for node in net.nodes.values():
            with node.activate():
                flushed += flush_progress(node)
        net.settle()
        if flushed == 0 and all(net.backlog(c) == 0 for c in net.nodes):
            return
    raise AssertionError("directives did not settle")


def issue(gd: Net, body: dict[str, Any], role: str = "leader") -> dict[str, Any]:
    r = gd.call("440000", "POST", "/api/v1/directives", role, body)
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert doc["id"]
    return doc


@pytest.mark.parametrize("targets, reached", [
    (["440300"], {"440300"}), (["440305"], {"440305"}), (["440300", "440305001"], {"440300", "440305001"}),
    (["440300/*"], BELOW), (["*"], BELOW), (None, BELOW),
], ids=["child", "grandchild", "two-codes", "subtree", "star", "default"])
def test_s6_issue_each_target_form_ack_report_progress(gd, targets, reached):
    body = dict(DIRECTIVE_BODY)
    if targets is None:
        del body["targets"]
    else:
        body["targets"] = targets
    did = issue(gd, body)["id"]
    settle_directives(gd)
    for code in sorted(reached):
        r = gd.call(code, "POST", f"/api/v1/directives/{did}/ack", "handler", {"note": "已收到，正在处置"})
        assert r.status_code == 200, (code, r.get_json())
        r = gd.call(code, "POST", f"/api/v1/directives/{did}/reports", "handler",
                    {"text": "已封存可疑食品 12 箱"})
        assert r.status_code == 201, (code, r.get_json())
    for code in sorted(BELOW - reached):
        r = gd.call(code, "GET", f"/api/v1/directives/{did}")
        assert r.status_code != 200 or not r.get_json().get("mine", {}).get("target"), code
    settle_directives(gd)
    doc = gd.get("440000", f"/api/v1/directives/{did}", "leader")
    p = doc["progress"]
    assert {"targets", "delivered", "acknowledged", "overdue", "nodes"} <= set(p), p
    assert p["targets"] == len(reached) and p["delivered"] == len(reached)
    assert p["acknowledged"] == len(reached) and p["overdue"] == []
    assert reached <= set(p["nodes"]) and all(isinstance(v, dict) for v in p["nodes"].values())


def test_s6_issue_roles(gd):
    for role in ("leader", "admin"):
        issue(gd, DIRECTIVE_BODY, role)


def test_s6_cap_alert_validates(gd):
    import xmlschema
    did = issue(gd, DIRECTIVE_BODY)["id"]
    r = gd.call("440000", "GET", f"/cap/v1/directives/{did}.xml", "leader")
    assert r.status_code == 200
    xml = r.get_data()
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "cap" / "CAP-v1.2.xsd"
    xsd = shared if shared.exists() else Path(__file__).resolve().parents[1] / "node" / "data" / "cap" / "CAP-v1.2.xsd"
    xmlschema.XMLSchema(str(xsd)).validate(xml)
    root = ET.fromstring(xml)
    assert root.tag == f"{{{CAP_NS}}}alert"
    assert root.findtext(f"{{{CAP_NS}}}msgType") == "Alert"


def test_s6_cli_issue_and_ack(gd):
    issuer_home = gd.net.nodes["440000"].config.home
    res = ok(n12315("--home", str(issuer_home), "directive", "issue", "--title", "食物中毒应急处置",
                    "--body", "请立即赶赴现场。", "--severity", "severe", "--target", "440305",
                    "--target", "440300", "--ack-within", "30", "--json"))
    doc = json.loads(res.stdout)
    did = doc["id"]
    settle_directives(gd)
    for code in ("440305", "440300"):
        ok(n12315("--home", str(gd.net.nodes[code].config.home), "directive", "ack", did))
    settle_directives(gd)
    p = gd.get("440000", f"/api/v1/directives/{did}", "leader")["progress"]
    assert p["targets"] == 2 and p["acknowledged"] == 2


def test_s6_cli_issue_with_default_targets(gd):
    issuer_home = gd.net.nodes["440000"].config.home
    res = ok(n12315("--home", str(issuer_home), "directive", "issue", "--title", "消费安全提示",
                    "--body", "请加强巡查。", "--severity", "minor", "--json"))
    did = json.loads(res.stdout)["id"]
    settle_directives(gd)
    assert gd.get("440000", f"/api/v1/directives/{did}", "leader")["progress"]["targets"] == 3


# == §7 statistics ===========================================================================
@pytest.mark.parametrize("role", ("analyst", "leader", "admin"))
def test_s7_stats_with_every_group_by(app_client, role):
    create(app_client, example_case(app_client))
    create(app_client, {"kind": "consultation", "channel": "web", "category": category_code(app_client),
                        "summary": "网购商品七天无理由退货如何计算", "received_at": "2026-09-29T11:00:00+08:00"})
    r = app_client.get(f"/api/v1/stats?from=2026-09-01&to=2026-09-30&group_by={STATS_GROUP_BY}", role=role)
    assert r.status_code == 200, r.get_json()
    doc = r.get_json()
    assert {"scope", "as_of", "totals", "rows", "coverage"} <= set(doc)
    assert doc["scope"] == "440305" and doc["as_of"]
    assert {"nodes_reporting", "nodes_expected", "stale"} <= set(doc["coverage"])
    assert doc["totals"]["cases"] == 2
    measures = set(doc["totals"])
    rows = [row for row in doc["rows"] if row["cases"]]
    assert sum(row["cases"] for row in rows) == 2
    for row in doc["rows"]:
        assert set(STATS_GROUP_BY.split(",")) <= set(row), row
        assert measures <= set(row), (measures - set(row))
    complaint = next(row for row in rows if row["kind"] == "complaint")
    assert (complaint["channel"], complaint["region"], complaint["urgency"], complaint["status"]) == (
        "phone", "440305", "general", "registered")


@pytest.mark.parametrize("group_by", STATS_GROUP_BY.split(","))
def test_s7_stats_each_group_by_alone(app_client, group_by):
    create(app_client, example_case(app_client))
    r = app_client.get(f"/api/v1/stats?from=2026-09-01&to=2026-09-30&group_by={group_by}", role="analyst")
    assert r.status_code == 200, r.get_json()
    rows = [row for row in r.get_json()["rows"] if row["cases"]]
    assert rows and all(group_by in row for row in rows)


def test_s7_stats_push(linked):
    parent_home, child_home, _ = linked
    join(parent_home, child_home)
    ok(n12315("--home", str(child_home), "stats", "push"))
    ok(n12315("--home", str(parent_home), "stats", "push"))


# == §8 demo ==================================================================================
def test_s8_demo_help_lists_its_options():
    res = ok(n12315("demo", "--help"))
    for option in ("--dir", "--base-port", "--check"):
        assert option in res.stdout, option

