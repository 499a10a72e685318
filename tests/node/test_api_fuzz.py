"""Every endpoint fuzzed (issue 13 item 8): Schemathesis reads the OpenAPI document the node
serves (``GET /api/v1/openapi.json``), generates requests that fit it and requests that break
it, and sends each as a role drawn from ``ROLES`` (no token included). A response fails the run
when it is a 5xx, has a status code the document does not list for the operation, a content type
it does not list, or a body that breaks the listed schema.

* ``test_every_operation_in_process`` — in ``make test``: the Flask app in-process (WSGI), on
  SQLite and PostgreSQL, ``N12315_FUZZ_EXAMPLES`` examples per operation (default
  ``IN_PROCESS_EXAMPLES``), derandomized, so a failure is the same on every machine.
* ``test_every_operation_against_serve`` — ``make fuzz``: a real ``n12315 serve`` process over
  HTTP (waitress's own parsing and limits in the way), users and tokens made by ``n12315 user
  add``; skipped unless ``N12315_FUZZ_EXAMPLES`` is set. ``N12315_FUZZ_SEED`` explores other
  inputs than the derandomized default.

A failure names the operation, what broke and a ``curl`` line that reproduces it. The Python
API is used rather than Schemathesis's pytest plugin (``schema.parametrize``), which reads the
``_nodeid`` attribute pytest 9 no longer has.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.node.cases.examples import complaint

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: the roles the requests are sent as (drawn per example); None sends no token
ROLES: tuple[str | None, ...] = ("admin", "intake", "handler", "analyst", "discipline", "leader", None)
IN_PROCESS_EXAMPLES = 6
OPENAPI = "/api/v1/openapi.json"

#: Operations left out, each with the finding that keeps it out (their code is another helper's
#: scope while this runs; see the report of issue 13 item 8). Key: "METHOD /path".
EXCLUDED: dict[str, str] = {
    # node/stats/api.py describes ``limit`` but not the 400 ``invalid_limit`` node/web/paging.py
    # answers: GET /api/v1/stats/rejections?limit=-1 → 400, documented 200/401/403/422.
    "GET /api/v1/stats/rejections": "400 invalid_limit undocumented (node/stats/api.py)",
}


def examples() -> int:
    return int(os.environ.get("N12315_FUZZ_EXAMPLES") or IN_PROCESS_EXAMPLES)


def fuzz(schema: Any, headers: Mapping[str | None, dict[str, str]], *, max_examples: int,
         fixed_paths: Mapping[str, str] = {}, call: Callable[[Any, dict[str, str]], Any] | None = None) -> list[str]:
    """Run every operation of ``schema`` (but ``EXCLUDED``) for ``max_examples`` examples each,
    half fitting the document and half breaking it; ``fixed_paths`` (``{"case_id": …}``) adds
    requests on objects that exist. Returns one report per failing operation."""
    found: list[str] = []
    only = os.environ.get("N12315_FUZZ_ONLY", "")   # a regex over "METHOD /path", to chase one finding
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in EXCLUDED or not re.search(only, operation.label):
            continue
        strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
        names = {p.name for p in operation.path_parameters}
        known = {k: v for k, v in fixed_paths.items() if k in names}
        if known:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))
        failure = fuzz_operation(st.one_of(strategies), headers, max_examples=max_examples, call=call)
        if failure:
            found.append(f"{operation.label}:\n{failure}")
    return found


def fuzz_operation(cases: Any, headers: Mapping[str | None, dict[str, str]], *, max_examples: int,
                   call: Callable[[Any, dict[str, str]], Any] | None) -> str | None:
    """The first failure of one operation's ``cases``, or None."""
    run_seed = os.environ.get("N12315_FUZZ_SEED")
    first: list[str] = []

    @settings(max_examples=max_examples, deadline=None, derandomize=run_seed is None, database=None,
              suppress_health_check=list(HealthCheck), phases=["explicit", "generate"], print_blob=False)
    @given(case=cases, role=st.sampled_from(ROLES))
    def one_operation(case: Any, role: str | None) -> None:
        try:
            if call is None:
                case.call_and_validate(headers=headers[role], checks=CHECKS)
            else:
                case.validate_response(call(case, headers[role]), checks=CHECKS, headers=headers[role])
        except (Exception, BaseExceptionGroup) as exc:
            # kept here: Hypothesis replays a failure to report it, and the replay may differ
            # (the node's state moved on; Schemathesis steers generation by earlier responses)
            first.append(f"as {role or 'no token'}: {describe(exc)}")
            raise

    if run_seed is not None:
        one_operation = seed(int(run_seed))(one_operation)
    try:
        one_operation()
    except FlakyStrategyDefinition:
        # no request failed: Schemathesis generated differently on a replay (it steers by the
        # responses it saw), which is not the node's fault
        return first[0] if first else None
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - all operations' failures reported together
        return first[0] if first else describe(exc)
    return None


def describe(exc: BaseException) -> str:
    """The failure as text, with what an exception group holds (Hypothesis's "flaky" report
    keeps the first failure inside one)."""
    text = str(exc)
    if isinstance(exc, BaseExceptionGroup):
        text += "".join("\n  " + describe(sub).replace("\n", "\n  ") for sub in exc.exceptions)
    return text


def seed_objects(api: Any) -> dict[str, str]:
    """One real case (so lists have an item whose shape is checked and ``{case_id}`` paths
    reach a case)."""
    made = api.post("/api/v1/cases", json=complaint(), role="intake")
    assert made.status_code == 201, made.get_data(as_text=True)
    return {"case_id": made.get_json()["id"]}


@pytest.mark.timeout(max(300, 60 * examples()))
def test_every_operation_in_process(app_client):
    schema = schemathesis.openapi.from_wsgi(OPENAPI, app_client.app)
    headers = {role: app_client.headers(role) for role in ROLES}
    fixed = seed_objects(app_client)
    found = fuzz(schema, headers, max_examples=examples(), fixed_paths=fixed)
    assert not found, f"{len(found)} operation(s) broke:\n\n" + "\n\n".join(found)


# -- make fuzz: a real serve process ---------------------------------------------------------
@pytest.mark.process
@pytest.mark.timeout(3600)
def test_every_operation_against_serve(tmp_path):
    if not os.environ.get("N12315_FUZZ_EXAMPLES"):
        pytest.skip("the deep run against a real serve process is `make fuzz` (N12315_FUZZ_EXAMPLES)")
    from admin_cli.demo import cli_cmd, free_ports

    [port] = free_ports(1)
    home = tmp_path / "node"
    url = f"http://127.0.0.1:{port}"
    cli_cmd(home, "init", "--level", "county", "--code", "440305", "--name", "深圳市南山区市场监督管理局",
            "--url", url)
    headers: dict[str | None, dict[str, str]] = {None: {}}
    for role in ROLES:
        if role is not None:
            token = cli_cmd(home, "user", "add", f"{role}1", "--role", role).stdout.strip().splitlines()[-1]
            headers[role] = {"Authorization": f"Bearer {token}"}
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "admin_cli", "--home", str(home), "serve", "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_up(url, tmp_path)
            made = requests.post(url + "/api/v1/cases", json=complaint(), headers=headers["intake"], timeout=30)
            assert made.status_code == 201, made.text
            schema = schemathesis.openapi.from_url(url + OPENAPI)
            session = requests.Session()

            def call(case: Any, extra: dict[str, str]) -> Any:
                return case.call(base_url=url, session=session, headers=extra, timeout=60)

            found = fuzz(schema, headers, max_examples=examples(), fixed_paths={"case_id": made.json()["id"]},
                         call=call)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    logged = (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in logged, logged[-4000:]
    assert not found, f"{len(found)} operation(s) broke:\n\n" + "\n\n".join(found)


def _wait_up(url: str, tmp_path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError((tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace"))
