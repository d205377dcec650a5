"""Where a problem is in an environment file and how to fix it: the line of a key path, pydantic's errors explained.

Shared by the loader and the diagnoses-file extension; every message names the file, the line, the key
path and a fix.
"""


import difflib
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from healthsuite.model.environment import Environment


class EnvironmentFileError(Exception):
    """The environment file cannot be used; the message names the file, the key path and the fix."""


# --- positions of keys ----------------------------------------------------------------------------


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest YAML node on the path `loc` (pydantic's error location)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part or str(key_node.value) == str(part):
                    # an unknown key is reported at the key itself
                    line = key_node.start_mark.line + 1
                    node = value_node
                    if not isinstance(value_node, (yaml.MappingNode, yaml.SequenceNode)):
                        line = value_node.start_mark.line + 1
                    break
            else:
                continue  # a tag of a union or a missing key: stay on the parent
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
    return line


# --- explaining validation errors -----------------------------------------------------------------


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return Environment.model_json_schema()


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = _schema()["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _schema_at(loc: tuple[Any, ...]) -> dict[str, Any] | None:
    """Walk the JSON schema along an error location (skipping union tags)."""
    schema = _deref(_schema())
    for part in loc:
        if "anyOf" in schema or "oneOf" in schema:
            variants = [_deref(v) for v in schema.get("anyOf", schema.get("oneOf", []))]
            tagged = [v for v in variants if any(p.get("const") == part for p in v.get("properties", {}).values())]
            if tagged:
                schema = tagged[0]
                continue
            objects = [v for v in variants if v.get("type") in ("object", "array")]
            if len(objects) == 1:
                schema = objects[0]
        if isinstance(part, int) and schema.get("type") == "array":
            schema = _deref(schema.get("items", {}))
        elif isinstance(part, str) and part in schema.get("properties", {}):
            schema = _deref(schema["properties"][part])
        elif isinstance(part, str) and isinstance(schema.get("additionalProperties"), dict):
            schema = _deref(schema["additionalProperties"])
        else:
            return None
    return schema


def key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    schema_loc: list[Any] = []
    for part in loc:
        if isinstance(part, str) and schema_loc and _schema_at(tuple(schema_loc)) is not None:
            parent = _schema_at(tuple(schema_loc)) or {}
            members = [_deref(m) for m in parent.get("anyOf", parent.get("oneOf", [])) if isinstance(m, dict)]
            member_keys = {key for member in members for key in member.get("properties", {})}
            optional_model = len([m for m in members if m.get("type") != "null"]) == 1  # `X | None`: no tag
            if members and not optional_model and part not in parent.get("properties", {}) and part not in member_keys:
                schema_loc.append(part)  # a union tag, not a key the user wrote
                continue
        schema_loc.append(part)
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def fix_for(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if kind == "healthsuite_rule":
        return str(ctx.get("fix", ""))
    if kind == "extra_forbidden":
        parent = _schema_at(loc[:-1]) or {}
        models = [v for v in map(_deref, parent.get("anyOf", [])) if v.get("type") == "object"]
        parent = models[0] if len(models) == 1 else parent  # a model or None (a declared check's probe block)
        allowed = sorted(parent.get("properties", {}))
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        guess = f"did you mean `{close[0]}`? " if close else ""
        return f"{guess}remove it or correct the spelling; allowed here: {', '.join(allowed)}"
    if kind == "missing":
        here = _schema_at(loc) or {}
        about = f" ({here['description']})" if here.get("description") else ""
        return f"add `{loc[-1]}`{about}"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        tags = ctx.get("expected_tags") or "'postgresql', 'sqlite'"
        return f"add `{ctx.get('discriminator', 'engine')}` with one of {tags}".replace("'", "")
    if kind == "literal_error":
        return f"use one of: {ctx.get('expected', '')}".replace("'", "")
    if kind == "string_pattern_mismatch":
        return "use lower-case letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. main-db"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "write a whole number, e.g. 200"
    if kind in ("float_parsing", "float_type"):
        return "write a number, e.g. 5 or 2.5"
    if kind in ("bool_parsing", "bool_type"):
        return "write true or false"
    if kind in ("string_type",):
        return "write a string (quote it if it starts with a special character)"
    if kind in ("list_type", "tuple_type"):
        return "write a list: one `- item` per line"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "write a mapping of `key: value` lines under this key"
    if kind == "value_error" and "variable reference" in str(error.get("msg")):
        return "write ${NAME} or ${NAME:-default}; write $$ for a literal $"
    if kind.startswith(("greater_than", "less_than")):
        return "give a value within the limits stated above"
    return "see environments/schema.json, or docs/ENVIRONMENT.md"


def explain(path: Path, errors: list[Any], count: int, root: yaml.Node | None) -> str:
    located: dict[tuple[Any, ...], tuple[int, Any]] = {}
    for error in errors:
        loc = tuple(error["loc"]) + tuple(json.loads((error.get("ctx") or {}).get("at", "[]")))
        user_loc = tuple(part for part in loc if not _is_union_member(part))
        if user_loc not in located:  # one value refused by each member of a union: its first reason only
            located[user_loc] = (line_of(root, loc) or 0, {**error, "loc": loc})
    count -= len(errors) - len(located)
    lines = [f"{path}: invalid environment file ({count} problem{'s' * (count > 1)})"]
    for line, error in sorted(located.values(), key=lambda item: item[0]):
        loc = error["loc"]
        where = f"line {line}: " if line else ""
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        given = error.get("input")
        if (
            error["type"] not in ("healthsuite_rule", "missing", "extra_forbidden")
            and isinstance(given, (str, int, float, bool))
            and len(str(given)) <= 60
        ):
            message += f" (got {given!r})"
        lines.append(f"  {where}{key_path(loc)}: {message}")
        lines.append(f"    fix: {fix_for(error)}")
    if count > len(located):
        lines.append(f"  ... and {count - len(located)} more; fix these first (the first {len(located)} are shown)")
    return "\n".join(lines)


def _is_union_member(part: Any) -> bool:
    """pydantic names the member of a union that refused a value: `int`, `list[int]`, `function-after[...]`."""
    return isinstance(part, str) and (
        "[" in part or part.startswith("constrained-") or part in ("int", "float", "str", "bool")
    )
