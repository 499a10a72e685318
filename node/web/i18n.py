"""Page language (issue 11: Chinese first, English available; CONTRACT §9 ``?lang=en``).

Every page string goes through the Flask-Babel catalogues in ``node/translations/`` (msgids in
English, ``zh_CN`` the default locale). ``?lang=en`` or ``?lang=zh_CN`` on any desk or public
page switches the session's language. Domain error messages are already bilingual
("中文 / English"); ``localize`` shows the half for the page's language.
"""
from __future__ import annotations

import re

from flask import Flask, request, session
from flask_babel import Babel, get_locale

from node.web import catalogs
from node.web.catalogs import N_  # noqa: F401  (pages import it from here)

LANGS = ("zh_CN", "en")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_SEPARATOR = re.compile(r"\s*/\s+")
DEFAULT = "zh_CN"


def _select() -> str:
    asked = request.args.get("lang")
    if asked in LANGS:
        session["lang"] = asked
        return asked
    chosen = session.get("lang")
    return chosen if chosen in LANGS else DEFAULT


def configure(app: Flask) -> None:
    app.config.update(BABEL_DEFAULT_LOCALE=DEFAULT, BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
                      BABEL_TRANSLATION_DIRECTORIES=catalogs.translation_directories())
    Babel(app, locale_selector=_select, timezone_selector=lambda: "Asia/Shanghai")
    app.jinja_env.globals.update(localize=localize, html_lang=html_lang)


def is_english() -> bool:
    return str(get_locale() or DEFAULT).startswith("en")


def html_lang() -> str:
    """The ``lang`` attribute of ``<html>`` (``zh-CN`` / ``en``)."""
    return "en" if is_english() else "zh-CN"


def localize(message: str | None) -> str:
    """"中文 / English" → the half for this page's language (a one-language text as it is).

    The cut is the first " / " (or "）/ ") after which no Chinese follows, so a Chinese half
    that holds a slash itself ("…（总局令第121号 / Order 121）/ English") stays whole."""
    if not message:
        return ""
    for sep in _SEPARATOR.finditer(message):
        zh, en = message[:sep.start()], message[sep.end():]
        if _CJK.search(zh) and en and not _CJK.search(en):
            return en if is_english() else zh
    if " / " in message:   # two languages without Chinese ("a / b"): the first is the default's
        zh, en = message.split(" / ", 1)
        return en if is_english() else zh
    return message
