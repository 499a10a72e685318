"""The case page of the staff desk (issue 11 item 5): ``GET /desk/cases/<id>``, its actions
(``POST /desk/cases/<id>/actions``, confirmed before they are done) and the printed case form
(``GET /desk/cases/<id>/form.docx``).

A package of its own because the page module must be named ``pages.py`` (only API and page
modules import Flask: tests/test_layout.py) and ``node/cases/pages.py`` holds the intake form
and the case list. What the page shows and does is plain domain code beside it in
``node/cases/``: ``case_view`` (the sections), ``actions_view`` (which actions, their forms,
what each will do), ``form_doc`` (the Word form).
"""
from node.cases.case_page.pages import bp

__all__ = ["bp"]
