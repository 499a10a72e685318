"""What ``n12315 status`` and ``GET /api/v1/status`` show (CONTRACT §2; RELIABILITY rule 19)."""
from __future__ import annotations

from node.deadlines import calendar_warnings
from node.runtime import Node


def collect(node: Node) -> dict:
    from federation.models import LocalState
    from node.db import SchemaVersion
    warnings: list[str] = []
    with node.activate():
        epoch = LocalState.get_value("epoch")
        version = max([r.version for r in SchemaVersion.select()] or [0])
        links = []
        try:
            from replication import status as rstatus
            links = rstatus.link_report(node.now())
            warnings += rstatus.warnings(node.now())
        except ImportError:
            pass
        warnings += calendar_warnings(node)
    db = node.config.db_url
    if "@" in db:  # never print a password
        db = db.split("://")[0] + "://…@" + db.split("@", 1)[1]
    return {
        "node": {"code": node.code, "level": node.level, "name": node.config.name, "url": node.config.url,
                 "epoch": epoch, "key_id": node.keypair.key_id, "public_key": node.keypair.public_b64,
                 "db": db, "schema_version": version, "time": node.now().isoformat()},
        "links": links,
        "warnings": warnings,
    }
