"""Validate sandbox responses against GHL's OpenAPI response schemas (`tests/fixtures/ghl/openapi`)."""
import copy
import functools
import json
from pathlib import Path

import jsonschema

from tests.fixtures.ghl import OPENAPI_DIR


@functools.cache
def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _resolve(node, base: Path, depth: int = 0):
    """Inline every `$ref` (local and cross-file) and turn OpenAPI's `nullable` into JSON Schema."""
    if depth > 40:
        return {}
    if isinstance(node, list):
        return [_resolve(n, base, depth + 1) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        file_part, _, pointer = node["$ref"].partition("#")
        target_file = (base.parent / file_part).resolve() if file_part else base
        target = _load(target_file)
        for part in pointer.strip("/").split("/"):
            target = target[part]
        return _resolve(target, target_file, depth + 1)
    out = {k: _resolve(v, base, depth + 1) for k, v in node.items() if k not in ("example", "examples")}
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def response_schema(spec: str, method: str, path: str, status: int = 200) -> dict:
    spec_path = OPENAPI_DIR / "apps" / f"{spec}.json"
    op = _load(spec_path)["paths"][path][method.lower()]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    return _resolve(copy.deepcopy(schema), spec_path)


def drop_nulls(value):
    """The sandbox sends `null` for unset fields where GHL's schemas only allow the value type (GHL omits
    unset keys); compare without them."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def _drop(value, parts: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, parts)
    elif isinstance(value, dict) and parts:
        if len(parts) == 1:
            value.pop(parts[0], None)
        elif parts[0] in value:
            _drop(value[parts[0]], parts[1:])


def _unrequire(schema, names: set) -> None:
    if isinstance(schema, dict):
        if isinstance(schema.get("required"), list):
            schema["required"] = [r for r in schema["required"] if r not in names]
        for v in schema.values():
            _unrequire(v, names)
    elif isinstance(schema, list):
        for v in schema:
            _unrequire(v, names)


def validate(body: dict, spec: str, method: str, path: str, status: int = 200, *, departures: tuple = ()) -> None:
    """Validate `body`; `departures` are dotted paths (lists expand) left out because of a named spec gap."""
    instance = drop_nulls(copy.deepcopy(body))
    schema = response_schema(spec, method, path, status)
    for dotted in departures:
        _drop(instance, dotted.split("."))
    _unrequire(schema, {d.rsplit(".", 1)[-1] for d in departures})
    jsonschema.validate(instance, schema)
