"""The staff desk (12315 工作台, issue 11; CONTRACT §9): sign-in, sign-out, the language switch
and the home page (我的工作台), which counts what each domain holds for this user.

The shell every desk page shares — the session, the menu by role, the layout, the catalogues
— is in ``node/web/`` (``session.py``, ``pages.py``, ``i18n.py``), where every domain's own
``pages.py`` reaches it. This package sits above the domains: it reads their public names,
no domain imports it.
"""
from node.desk.pages import bp

__all__ = ["bp"]
