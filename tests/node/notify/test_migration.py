"""Migration 7 (issue 12 item 4): a node that ran routing's notice outbox keeps its notices and
gains the channel, event, subject and retry columns and the delivery log. SQLite and
PostgreSQL."""
from __future__ import annotations

from node import migrations
from node.home import open_node
from node.notify import DeliveryAttempt, Notification, flush, list_deliveries
from tests.node.notify.stubs import SmsGateway, configure


def test_a_store_with_routings_outbox_gains_the_new_columns_and_keeps_its_notices(make_node, tmp_path):
    node = make_node(tmp_path, level="county", code="440305")
    home, db = node.config.home, node.db
    with node.activate():
        # the store as routing's outbox left it: today's table without the new columns, no log
        db.execute_sql("DROP INDEX notification_state_next_attempt_at")
        for column in ("channel", "event", "subject", "next_attempt_at"):
            db.execute_sql(f"ALTER TABLE notification DROP COLUMN {column}")
        db.execute_sql("DROP TABLE notification_attempt")
        p = db.param
        db.execute_sql("INSERT INTO notification (key, case_id, version, status, recipient, address, message, state, "
                       f"sender, attempts, last_error, created_at) VALUES ({p}, {p}, 3, 'accepted', {p}, {p}, {p}, "
                       "'pending', '', 0, '', '2026-09-29 02:00:00')",
                       ["440305-20260929-000001|accepted|2026-09-29T02:00:00", "440305-20260929-000001", "陈女士",
                        "13600001111", "【12315】陈女士您好：…（编号 440305-20260929-000001）已由…受理。"])
        db.execute_sql("DELETE FROM schema_version WHERE version = 7")
    node.close()
    reopened = open_node(home, clock=node.clock)
    try:
        cols = {c.name for c in reopened.db.get_columns("notification")}
        assert {"channel", "event", "subject", "next_attempt_at", "key", "address"} <= cols
        assert "notification_attempt" in reopened.db.get_tables()
        assert migrations.migrate(reopened.db) == migrations.MIGRATIONS[-1][0]   # again: nothing to do
        with reopened.activate():
            old = Notification.get()
            assert (old.channel, old.event, old.state, old.attempts) == ("sms", "accepted", "pending", 0)
            with SmsGateway(secret="k") as sms:   # the kept notice is sent like any other
                configure(reopened, sms_url=sms.url, sms_secret="k")
                assert flush(reopened) == 1
            assert sms.messages[0]["case_id"] == "440305-20260929-000001"
            assert DeliveryAttempt.select().count() == 1
            assert list_deliveries(reopened)[0]["address"] == "136****1111"
    finally:
        reopened.close()
