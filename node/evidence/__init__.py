"""Evidence attachments of cases (issue 11 item 5; docs/evidence.md): upload with the type and
size checked on the content and image metadata stripped, content-addressed storage, listing
and download for those who may read the case, and travel with the case through the tree —
each blob sent once per link, checked on arrival.

Inside the package:

* ``content.py`` — type sniffing by magic bytes, name/type agreement, image re-encoding
  without metadata, file-name cleaning; ``store.py`` — blobs on disk (atomic, by SHA-256);
* ``models.py`` — records, who holds them, which peers hold which blob, chunks on their way;
* ``service.py`` — attach, list, open (the API and the pages call these);
* ``documents.py`` — the ``evidence`` channel: ``evidence.record`` and ``evidence.chunk``,
  distribution to the holders of a case and the handlers of arriving documents;
* ``api.py`` (``/api/v1/cases/<id>/evidence``), ``openapi.py``, ``pages.py``
  (``/desk/cases/<id>/evidence``).

It extends the case lifecycle through ``node.cases.install_extension`` (``after_change``: new
holders get the attachments); neither cases nor routing import it.
"""
from node.cases import install_extension
from node.evidence import documents
from node.evidence.service import UPLOAD_ROLES, add_evidence, list_evidence, may_attach, open_evidence


def register_handlers(node, registry) -> None:
    """The ``evidence.record`` and ``evidence.chunk`` documents (``node.domains`` installs it)."""
    documents.register_handlers(node, registry)


def install_case_hooks() -> None:
    """Send a case's attachments to holders that join it (idempotent; ``node.domains`` calls it)."""
    install_extension(after_change=documents.after_change)


__all__ = ["UPLOAD_ROLES", "add_evidence", "install_case_hooks", "list_evidence", "may_attach", "open_evidence",
           "register_handlers"]
