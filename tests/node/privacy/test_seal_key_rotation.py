"""A running node and ``n12315 key rotate-seal`` run beside it (issue 13 item 2; issue 15 item 1;
docs/privacy-sealing.md "Rotation"): the node holds its seal keys in memory (reading them per
case document was a share of every intake), yet the next document it sends names the new key
and an envelope sealed to the new key opens there, without a restart. SQLite and PostgreSQL.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

from node.cases import Case
from node.privacy import sealing
from node.routing import documents, sealed
from tests.node.cases.examples import complaint


def test_a_running_node_uses_the_seal_key_another_process_rotated(app_client):
    node = app_client.node
    home = node.config.home_path
    r = app_client.post("/api/v1/cases", complaint())
    assert r.status_code == 201, r.get_json()
    cid = r.get_json()["id"]
    # the keys folder as a node long in service has it: changed well before the key was read
    # (a folder changed moments ago is re-read on every use; this test is about the cached set)
    old = time.time_ns() - 60_000_000_000
    os.utime(home / "keys", ns=(old, old))
    with node.activate():
        row = Case.row(cid)
        before, _ = sealed.outgoing(node, row, documents.events_to_wire([]))
    first = before["sealer"]["key"]

    done = subprocess.run([sys.executable, "-m", "admin_cli", "--home", str(home), "key", "rotate-seal"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    new = done.stdout.splitlines()[1].strip()
    assert new != first and len(new) == 44

    with node.activate():
        after, _ = sealed.outgoing(node, row, documents.events_to_wire([]))
        assert after["sealer"] == {"node": node.code, "key": new}
        # a peer that learned the new key seals to it; the running node opens it
        envelope = sealing.seal(cid, {"complainant": "{}"}, {node.code: new})
        assert sealing.open_envelope(envelope, cid, node.code,
                                     sealing.own_seal_keys(home)) == {"complainant": "{}"}
        # and what was sealed to the old key still opens
        old_envelope = sealing.seal(cid, {"complainant": "{}"}, {node.code: first})
        assert sealing.open_envelope(old_envelope, cid, node.code,
                                     sealing.own_seal_keys(home)) == {"complainant": "{}"}
