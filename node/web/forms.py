"""From a posted form to the JSON body the domain functions take (STYLE.md "Pages": forms
post the same field names as the JSON, dotted for nesting: ``complainant.name``)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def nested(form: Mapping[str, Any], fields: Iterable[str], *, checkboxes: Iterable[str] = ()) -> dict[str, Any]:
    """``{"complainant.name": "张三"}`` → ``{"complainant": {"name": "张三"}}``.

    Only ``fields`` are read (anything else in the form is ignored, never passed on); an empty
    input is left out, so the domain's "required" message names the field; a checkbox is
    ``True`` when present and ``False`` when not."""
    out: dict[str, Any] = {}
    boxes = set(checkboxes)
    for name in fields:
        if name in boxes:
            value: Any = name in form and form.get(name) not in ("", "0", "false", "off")
        else:
            raw = form.get(name)
            if raw is None or (isinstance(raw, str) and raw.strip() == ""):
                continue
            value = raw.strip() if isinstance(raw, str) else raw
        parts = name.split(".")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out
