"""``GET /metrics`` seen from a Prometheus (issue 14 "Seen from outside"; docs/metrics.md).

Two linked nodes in the in-process harness: while the link is down the county's backlog and the
age of its oldest pending document rise, after delivery they fall; a poisoned document shows in
the station's quarantine count; cases taken in and documents applied are counted from the
database. Every scrape is parsed with ``prometheus_client``'s own parser. Access: without a
token only from ``metrics.allow``; otherwise a token of role admin or monitor. The sample
alerting rules (docs/alerts/n12315-rules.yml) parse, have the shape Prometheus loads, and name
only metrics a real scrape has.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from node import jobs
from node.app import create_app
from node.config import MetricsSettings
from node.deadlines import WorkCalendar
from node.errors import NodeError
from node.network.transport import replicator
from replication.models import Quarantine
from tests.network import notes
from tests.node.cases.examples import complaint

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "alerts" / "n12315-rules.yml"
COUNTY, STATION = "440305", "440305001"


def scrape(net, code: str, *, remote: str = "127.0.0.1", token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return net.clients[code].get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote})


def figures(net, code: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(sample name, sorted labels) -> value`` of one scrape, read by Prometheus's parser."""
    resp = scrape(net, code)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(fig, name: str, **labels: str) -> float | None:
    return fig.get((name, tuple(sorted(labels.items()))))


def token(node, login: str, role: str) -> str:
    from node.accounts import add_user
    with node.activate():
        return add_user(login, role, node.now())


def test_backlog_and_age_rise_while_the_link_is_down_and_fall_after_delivery(pair):
    county, station = pair.nodes[COUNTY], pair.nodes[STATION]
    assert value(figures(pair, COUNTY), "n12315_link_backlog", peer=STATION, role="child") == 0

    applied_before = value(figures(pair, STATION), "n12315_documents_applied_total", peer=COUNTY, channel="cases") or 0
    pair.partition(COUNTY, STATION)
    sent = [notes.send(county, STATION, i) for i in range(5)]
    pair.sync(COUNTY)                       # refused: the link is down
    pair.clock.advance(600)
    down = figures(pair, COUNTY)
    assert value(down, "n12315_link_backlog", peer=STATION, role="child") == 5
    assert value(down, "n12315_link_oldest_pending_seconds", peer=STATION, role="child") >= 600
    assert value(down, "n12315_link_failed_attempts", peer=STATION, role="child") >= 1
    assert value(down, "n12315_replication_unacked_sequences", peer=STATION, channel="cases") == 5
    pair.clock.advance(600)
    later = figures(pair, COUNTY)
    assert value(later, "n12315_link_oldest_pending_seconds", peer=STATION, role="child") >= 1200

    pair.heal()
    pair.settle()
    up = figures(pair, COUNTY)
    assert value(up, "n12315_link_backlog", peer=STATION, role="child") == 0
    assert value(up, "n12315_link_oldest_pending_seconds", peer=STATION, role="child") == 0
    assert value(up, "n12315_link_failed_attempts", peer=STATION, role="child") == 0
    assert value(up, "n12315_replication_unacked_sequences", peer=STATION, channel="cases") == 0
    now = county.now().timestamp()
    assert value(up, "n12315_link_last_success_timestamp_seconds", peer=STATION, role="child",
                 direction="send") == pytest.approx(now, abs=5)
    at_station = figures(pair, STATION)
    assert set(notes.applied(station)) >= set(sent)
    assert value(at_station, "n12315_documents_applied_total", peer=COUNTY, channel="cases") == applied_before + 5
    assert value(at_station, "n12315_link_last_success_timestamp_seconds", peer=COUNTY, role="parent",
                 direction="receive") == pytest.approx(now, abs=5)
    assert value(at_station, "n12315_link_info", peer=COUNTY, role="parent", level="county", state="active") == 1


def test_cases_taken_in_are_counted_from_the_database_across_a_restart(pair):
    county = pair.nodes[COUNTY]
    assert value(figures(pair, COUNTY), "n12315_cases_taken_in_total", channel="phone") is None
    intake = token(county, "intake1", "intake")
    for channel in ("phone", "phone", "web"):
        resp = pair.clients[COUNTY].post("/api/v1/cases", json=complaint(channel=channel),
                                         headers={"Authorization": f"Bearer {intake}"})
        assert resp.status_code == 201, resp.get_json()
    fig = figures(pair, COUNTY)
    assert value(fig, "n12315_cases_taken_in_total", channel="phone") == 2
    assert value(fig, "n12315_cases_taken_in_total", channel="web") == 1
    pair.restart(COUNTY)   # nothing kept in memory: the counter is where the database says
    again = figures(pair, COUNTY)
    assert value(again, "n12315_cases_taken_in_total", channel="phone") == 2
    assert value(again, "n12315_cases_taken_in_total", channel="web") == 1


def test_a_poisoned_document_shows_in_the_quarantine_count(pair):
    county, station = pair.nodes[COUNTY], pair.nodes[STATION]
    notes.send(county, STATION, 0, channel="stats", poison=True)
    for _ in range(3):
        pair.sync(COUNTY)
    assert value(figures(pair, STATION), "n12315_quarantine_documents", peer=COUNTY) == 1
    from replication.quarantine import skip
    with station.activate():
        held = Quarantine.select().where(Quarantine.state == "held").get()
        skip(replicator(station), held.id, "admin", "测试 / test")
    assert value(figures(pair, STATION), "n12315_quarantine_documents", peer=COUNTY) is None


def test_job_runs_and_calendar_fallback_are_reported(pair):
    county = pair.nodes[COUNTY]
    jobs._wrap(county, "test.ok", lambda n: pair.clock.advance(0))()
    jobs._wrap(county, "test.broken", lambda n: 1 / 0)()
    fig = figures(pair, COUNTY)
    assert value(fig, "n12315_job_runs_total", job="test.ok") == 1
    assert value(fig, "n12315_job_failures_total", job="test.broken") == 1
    assert value(fig, "n12315_job_last_success_timestamp_seconds", job="test.ok") == county.now().timestamp()
    assert value(fig, "n12315_job_last_success_timestamp_seconds", job="test.broken") is None
    assert value(fig, "n12315_job_last_duration_seconds", job="test.ok") >= 0
    year = county.now().year   # the harness clock stands in 2026, a year chinesecalendar covers
    assert value(fig, "n12315_calendar_fallback", year=str(year)) == 0
    county.cache["work_calendar"] = WorkCalendar(use_library=False)   # as when the library runs out
    fig = figures(pair, COUNTY)
    assert value(fig, "n12315_calendar_fallback", year=str(year)) == 1
    assert value(fig, "n12315_calendar_source_info", year=str(year), source="fallback") == 1


def test_statistics_sent_up_are_reported(pair):
    from node.stats import rollup
    station = pair.nodes[STATION]
    assert value(figures(pair, STATION), "n12315_stats_last_sent_timestamp_seconds") is None
    with station.activate():
        rollup(station)
    fig = figures(pair, STATION)
    assert value(fig, "n12315_stats_last_sent_timestamp_seconds") == pytest.approx(station.now().timestamp(), abs=5)
    assert value(fig, "n12315_stats_pending_days", target="parent") == 0


def test_without_a_token_only_from_the_allowed_networks(pair):
    county = pair.nodes[COUNTY]
    resp = scrape(pair, COUNTY, remote="203.0.113.9")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthenticated"
    assert "n12315_" not in resp.get_data(as_text=True)
    handler = scrape(pair, COUNTY, remote="203.0.113.9", token=token(county, "handler1", "handler"))
    assert handler.status_code == 403 and handler.get_json()["error"]["code"]
    for role in ("monitor", "admin"):
        resp = scrape(pair, COUNTY, remote="203.0.113.9", token=token(county, f"{role}1", role))
        assert resp.status_code == 200 and "n12315_link_backlog" in resp.get_data(as_text=True)
    assert scrape(pair, COUNTY, remote="::1").status_code == 200
    assert scrape(pair, COUNTY, remote="::ffff:127.0.0.1").status_code == 200
    # a configured network scrapes without a token; "" means a token always, even on loopback
    county.config = dataclasses.replace(county.config, metrics=MetricsSettings(allow="203.0.113.0/24"))
    pair.clients[COUNTY] = create_app(county).test_client()
    assert scrape(pair, COUNTY, remote="203.0.113.9").status_code == 200
    assert scrape(pair, COUNTY, remote="127.0.0.1").status_code == 401
    county.config = dataclasses.replace(county.config, metrics=MetricsSettings(allow="10.0.0.0/33"))
    with pytest.raises(NodeError) as bad:
        create_app(county)
    assert bad.value.field == "metrics.allow"


def test_a_monitor_token_opens_metrics_and_nothing_else(pair):
    county = pair.nodes[COUNTY]
    monitor = {"Authorization": f"Bearer {token(county, 'prom', 'monitor')}"}
    client = pair.clients[COUNTY]
    assert scrape(pair, COUNTY, remote="203.0.113.9", token=monitor["Authorization"][7:]).status_code == 200
    # routes that any signed-in staff member may read refuse it, as do those naming roles
    for path in ("/api/v1/directives", "/api/v1/plans", "/api/v1/warnings", "/api/v1/cases", "/api/v1/status"):
        resp = client.get(path, headers=monitor)
        assert resp.status_code == 403, (path, resp.status_code)
        assert resp.get_json()["error"]["code"] == "forbidden"
    assert client.get("/api/v1/directives", headers={
        "Authorization": f"Bearer {token(county, 'clerk', 'intake')}"}).status_code == 200


def test_labels_carry_no_personal_data(pair):
    county = pair.nodes[COUNTY]
    intake = token(county, "intake1", "intake")
    body = complaint()
    assert pair.clients[COUNTY].post("/api/v1/cases", json=body,
                                     headers={"Authorization": f"Bearer {intake}"}).status_code == 201
    text = scrape(pair, COUNTY).get_data(as_text=True)
    for personal in (body["complainant"]["name"], body["complainant"]["phone"], body["respondent"]["name"],
                     body["complainant"]["address"]):
        assert personal not in text


# -- the sample alerting rules -----------------------------------------------------------------
def _scraped_names(net, code: str) -> set[str]:
    text = scrape(net, code).get_data(as_text=True)
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.add(family.name + "_total" if family.type == "counter" else family.name)
        names.update(s.name for s in family.samples)
    return names


def test_the_alerting_rules_parse_and_name_only_scraped_metrics(pair):
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert isinstance(doc, dict) and set(doc) == {"groups"} and doc["groups"]
    alerts = []
    for group in doc["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"], group
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["alert"] and isinstance(rule["expr"], str) and rule["expr"].strip(), rule
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule
            assert rule["labels"]["severity"] in ("warning", "critical"), rule
            assert {"summary", "description"} <= set(rule["annotations"]), rule
            alerts.append(rule)
    names = {r["alert"] for r in alerts}
    assert len(names) == len(alerts), "alert names repeat"
    # what issue 14 asks the sample to cover
    for wanted in ("N12315LinkSilent", "N12315BacklogGrowing", "N12315StatisticsStale", "N12315QuarantineNotEmpty",
                   "N12315CalendarFallback"):
        assert wanted in names
    scraped = _scraped_names(pair, COUNTY) | _scraped_names(pair, STATION)
    for rule in alerts:
        used = set(re.findall(r"\bn12315_[a-z0-9_]+", rule["expr"]))
        assert used, rule["alert"]
        assert used <= scraped, f"{rule['alert']} names metrics no scrape has: {sorted(used - scraped)}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (the structural check ran)")
def test_promtool_accepts_the_rules():
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
