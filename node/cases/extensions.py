"""Province extension fields: each province's JSON Schema, and the ``extensions`` check.

Serves R7.3 (one national standard issued by HQ; provinces add local extension fields) and
CONTRACT §5 ``extensions``. A province publishes ``configs/extensions/<province code>.json``
(Draft 2020-12); a case's ``extensions`` are validated against the schema of the province
that owns ``respondent.region_code`` and must be empty where that province has none. Floats
are refused inside too, since case documents are signed as canonical JSON.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from node.cases.checks import check_text
from node.config import CONFIGS_DIR
from node.divisions import DivisionTable
from node.errors import NodeError, invalid

DEFAULT_EXTENSIONS_DIR = CONFIGS_DIR / "extensions"

_VALIDATOR_CACHE: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}
_VALIDATOR_CACHE_MAX = 128


def _validator_for(schema: dict[str, Any], province: str) -> Draft202012Validator:
    """A compiled validator per schema object, cached: building one per request would cost more
    than the validation itself. Keyed by identity (the node loads its schemas once)."""
    hit = _VALIDATOR_CACHE.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        raise ValueError(f"extension schema of province {province} is not a valid JSON Schema: {e.message}") from e
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    if len(_VALIDATOR_CACHE) >= _VALIDATOR_CACHE_MAX:
        _VALIDATOR_CACHE.clear()
    _VALIDATOR_CACHE[id(schema)] = (schema, validator)
    return validator


def load_extension_schemas(
    directory: str | Path = DEFAULT_EXTENSIONS_DIR, *, divisions: DivisionTable | None = None
) -> dict[str, dict[str, Any]]:
    """Read ``<province code>.json`` files into ``{province code: schema}``.

    Fails (ValueError naming the file) on a file name that is not a province code, JSON that
    does not parse, or a schema that is not valid Draft 2020-12, so a bad file stops the node
    at start rather than at the first case.
    """
    out: dict[str, dict[str, Any]] = {}
    base = Path(directory)
    if not base.is_dir():
        return out
    for path in sorted(base.glob("*.json")):
        code = path.stem
        if not re.fullmatch(r"\d{2}0000", code) or (
            divisions is not None and divisions.level_of(code) != "province"
        ):
            raise ValueError(f"{path}: the file name must be a province code such as 440000.json")
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{path}: not valid JSON: {e}") from e
        if not isinstance(schema, dict):
            # ValueError like every other bad-file case, so the config loader catches one type.
            raise ValueError(f"{path}: a schema must be a JSON object")  # noqa: TRY004
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise ValueError(f"{path}: not a valid JSON Schema (Draft 2020-12): {e.message}") from e
        out[code] = schema
    return out


def _check_json_values(value: Any, path: str) -> None:
    """Refuse floats (canonical JSON signs case documents and admits none) and control
    characters anywhere inside ``extensions``."""
    if isinstance(value, float):
        raise invalid(
            path,
            f"扩展字段（{path}）不得使用小数形式的 JSON 数字，金额请用字符串"
            f" / {path}: floats are not allowed (case documents are canonical JSON); use a decimal string",
        )
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(k, path)
            _check_json_values(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_json_values(v, f"{path}.{i}")


def _schema_error_field(error: jsonschema.ValidationError) -> tuple[str, str | None]:
    """The dotted field an error is about, and the unknown key if it is one."""
    parts = ["extensions", *(str(p) for p in error.absolute_path)]
    instance = error.instance
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(instance, dict):
        sub = error.schema if isinstance(error.schema, dict) else {}
        props = sub.get("properties", {}) or {}
        patterns = sub.get("patternProperties", {}) or {}
        extras = [
            k for k in instance
            if k not in props and not any(re.search(p, k) for p in patterns)
        ]
        if extras:
            return ".".join([*parts, extras[0]]), extras[0]
    if error.validator == "required" and isinstance(instance, dict):
        missing = [r for r in (error.validator_value or []) if r not in instance]
        if missing:
            return ".".join([*parts, str(missing[0])]), None
    return ".".join(parts), None


def validate_extensions(
    value: Any,
    province: str | None,
    extension_schemas: Mapping[str, dict[str, Any]],
    divisions: DivisionTable,
) -> tuple[dict[str, Any], str | None]:
    """``extensions`` checked against ``province``'s schema → ``(a deep copy, the province
    whose schema applied or None)``; the first problem raises ``NodeError`` naming the field."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise invalid("extensions", "扩展字段（extensions）须为对象 / extensions must be an object")
    _check_json_values(value, "extensions")
    schema = extension_schemas.get(province) if province else None
    if schema is None:
        if value:
            key = next(iter(value))
            where = f"{province}（{divisions.name(province)}）" if province else "本节点"
            where_en = f"province {province}" if province else "this node"
            raise NodeError(
                422,
                "unknown_field",
                f"未知字段 / unknown field: extensions.{key}（{where}未定义扩展字段，extensions 须为空"
                f" / {where_en} defines no extension fields, extensions must be empty）",
                f"extensions.{key}",
            )
        return {}, None
    validator = _validator_for(schema, province or "")
    error = best_match(validator.iter_errors(value))
    if error is not None:
        fieldname, unknown_key = _schema_error_field(error)
        prov = f"{province}（{divisions.name(province or '')}）"
        if unknown_key is not None:
            raise NodeError(
                422,
                "unknown_field",
                f"未知字段 / unknown field: {fieldname}（{prov}扩展规范中没有该字段"
                f" / not in the extension schema of province {province}）",
                fieldname,
            )
        detail = error.message if len(error.message) <= 200 else error.message[:200] + "…"
        raise invalid(
            fieldname,
            f"扩展字段 {fieldname} 不符合{prov}扩展规范 / {fieldname} does not match the extension"
            f" schema of province {province}: {detail}",
        )
    return json.loads(json.dumps(value)), province  # a deep copy the caller may keep

