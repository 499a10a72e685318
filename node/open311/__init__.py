"""Open311 GeoReport v2 at ``/open311/v2/`` (issue 12 item 5; CONTRACT §10; docs/open311.md).

Civic apps and partner systems speak the GeoReport v2 standard; here it sits on the 12315
case standard. Where things live:

* ``models.py`` — ``ApiKey`` (name, SHA-256 of the key, created, revoked);
* ``keys.py`` — issuing, listing, revoking and checking keys (``n12315 open311 key …``);
* ``catalog.py`` — discovery, the service list (the node's category table), service
  definitions (the attributes a 12315 case needs beyond the standard fields);
* ``service_requests.py`` — a POST becomes a case (``channel: "open311"``) through
  ``node.cases.create_case``; the GETs show those cases without anybody's personal data;
* ``xmldoc.py`` — the XML documents; ``api.py`` — the routes; ``openapi.py`` — their description.
"""
from node.open311.models import MODELS, create_tables


def migrate_tables(db) -> None:
    create_tables(db)


__all__ = ["MODELS", "migrate_tables"]
