"""Numbered migrations bring an older store up to today's schema (issue 2; design card "data")."""
from __future__ import annotations

from node import db as node_db
from node import migrations
from node.home import open_node


def test_a_version_1_store_gains_the_ping_arrival_column_and_keeps_its_rows(make_node, tmp_path):
    node = make_node(tmp_path, level="county", code="440305")
    home, database = node.config.home, node.db
    from node.network.models import PingLog
    with node.activate():
        PingLog.create(doc_id="old", direction="in", peer="440305001", seq=0, sent_at=node.now(), received=1)
        # the store as version 1 left it: no arrival column, no record of migration 2
        database.execute_sql("DROP INDEX ping_log_arrival")
        database.execute_sql("ALTER TABLE ping_log DROP COLUMN arrival")
        database.execute_sql("DELETE FROM schema_version WHERE version = 2")
    node.close()
    reopened = open_node(home)
    try:
        assert {c.name for c in reopened.db.get_columns("ping_log")} >= {"arrival", "doc_id"}
        assert "ping_log_arrival" in {i.name for i in reopened.db.get_indexes("ping_log")}
        with reopened.activate():
            assert PingLog.get(PingLog.doc_id == "old").arrival is None
        with reopened.db.bind_ctx([node_db.SchemaVersion]):
            versions = [r.version for r in node_db.SchemaVersion.select().order_by(node_db.SchemaVersion.version)]
        latest = migrations.MIGRATIONS[-1][0]
        assert versions == list(range(1, latest + 1))
        assert migrations.migrate(reopened.db) == latest   # again: nothing to do, nothing fails
    finally:
        reopened.close()
