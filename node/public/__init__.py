"""The public portal (issue 12 items 1-3 and 7; CONTRACT §10; docs/public.md): consumers file
consultations, complaints and reports, follow them with a query code, rate the result and ask
for it to be handled again; a front page with warnings, publicity and hot spots.

Inside the package:

* ``codes.py`` — query codes (查询码) and one-time phone codes, stored only as hashes;
* ``limits.py`` — rate limits per address and per phone (in-process, shared by threads);
* ``filing.py`` — the form → a case through ``node.cases.create_case`` (channel ``web``),
  its code and attachments in one transaction;
* ``progress.py`` — the consumer's view of a case (an allow-list), feedback, reopen requests;
* ``firms.py`` — the firm table behind the respondent look-up;
* ``pages.py`` — ``/public/`` pages and ``/public/v1/firms``.
"""
from node.cases import install_extension
from node.public import firms
from node.public.models import MODELS, create_tables


def install_case_hooks() -> None:
    """Respondents registered here feed the firm look-up (``node.domains`` calls it)."""
    install_extension(after_change=firms.after_change)


def migrate_tables(db) -> None:
    create_tables(db)


__all__ = ["MODELS", "install_case_hooks", "migrate_tables"]
