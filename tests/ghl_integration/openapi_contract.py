"""Contract checks against GHL's own OpenAPI specs (``tests/fixtures/ghl/openapi/apps/*.json``), offline.

Shared by the client's tests (every request the client sends) and the sandbox's tests (every response the sandbox
returns)::

    from tests.ghl_integration.openapi_contract import validate_request, validate_response

    validate_request("POST", "/contacts/", query={}, headers={...}, body={...})
    validate_response("POST", "/contacts/", 201, {...})
    validate_prepared_request(responses.calls[0].request)  # a requests.PreparedRequest

Each raises :class:`ContractError` (an ``AssertionError``) listing every problem. Operations are found by method
and path template (literal segments win over ``{params}``, so ``/conversations/messages/export`` never matches
``/conversations/messages/{id}``). Checked: the operation exists; path, query and header parameters (required,
type after coercing the query string, enum; unknown query parameters are errors, which catches snake/camel mix-ups);
the ``Version`` header; ``Authorization: Bearer`` where the operation has security and no ``Authorization``/
``Version`` where it has neither (``POST /oauth/token``); the body's media type and schema; response schemas.

Where REFERENCE.md §i documents a known gap, a test names it in ``gaps=(...)``: the gap excuses only the specific
schema errors it describes (see :data:`GAPS`), never anything else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.fixtures.ghl import OPENAPI_DIR

SPEC_DIR = OPENAPI_DIR
HTTP_METHODS = ("get", "post", "put", "delete", "patch")


class ContractError(AssertionError):
    pass


@dataclass(frozen=True)
class Gap:
    """A documented discrepancy (REFERENCE.md §i) and the schema errors it excuses."""

    ref: str
    description: str
    excuses: Callable[[ValidationError], bool]
    #: For a query parameter gap: the parameter whose comma-separated parts are each checked instead.
    param: str | None = None


def _missing(names: set[str]) -> Callable[[ValidationError], bool]:
    def check(error: ValidationError) -> bool:
        return error.validator == "required" and any(f"'{n}' is a required property" in error.message for n in names)

    return check


def _object_typed_scalar(error: ValidationError) -> bool:
    if error.validator != "type" or error.validator_value != "object" or not isinstance(error.schema, dict):
        return False
    example = error.schema.get("example")
    if isinstance(example, dict | list) or example is None:
        return False
    numeric = (int, float)
    if isinstance(example, str):
        return isinstance(error.instance, str)
    return isinstance(error.instance, numeric) and not isinstance(error.instance, bool)


GAPS: dict[str, Gap] = {
    "send-message-subtype-status": Gap(
        "§i.4",
        "POST /conversations/messages: the 2026 spec requires subType and status; the 2025 spec only type + "
        "contactId. We follow 2025 and never send status.",
        _missing({"subType", "status"}),
    ),
    "opportunity-upsert-2025": Gap(
        "§i.6",
        "POST /opportunities/upsert: 2025 body (contactId, no follower fields) vs 2026 (id + required followers, "
        "isRemoveAllFollowers, followersActionType).",
        _missing({"followers", "isRemoveAllFollowers", "followersActionType"}),
    ),
    "object-typed-scalar": Gap(
        "spec artefact",
        "Some properties are typed `object` while the spec's own example is a scalar (calendar event "
        "startTime/endTime/dateAdded/dateUpdated are ISO strings, upsert opportunity monetaryValue is a number): "
        "a scalar of the example's type is accepted there.",
        lambda error: _object_typed_scalar(error),
    ),
    "messages-type-comma-list": Gap(
        "§d",
        "GET /conversations/{id}/messages: REFERENCE documents `type` as a comma list of TYPE_*; the spec's schema "
        "is a single enum value. Each comma-separated part must still be in the enum.",
        lambda error: False,
        param="type",
    ),
    "contacts-search-body-untyped": Gap(
        "§i.7",
        "POST /contacts/search: the spec's body schema is empty; the body is checked against CONTACTS_SEARCH_BODY "
        "(from the ClickUp doc quoted in REFERENCE §c) instead.",
        lambda error: False,
    ),
    "messages-list-wrapped": Gap(
        "§i.3",
        "GET /conversations/{id}/messages: 2026 spec is flat; the 2025 spec and doc wrap the page in messages{}.",
        lambda error: list(error.absolute_path)[:1] == ["messages"] or _missing({"lastMessageId", "nextPage"})(error),
    ),
    "pipeline-stages-untyped": Gap(
        "§i.9",
        "GET /opportunities/pipelines: the spec types each stage as an array; GHL sends objects {id, name, ...}.",
        lambda error: error.validator == "type" and "stages" in [str(p) for p in error.absolute_path],
    ),
    "unset-as-null": Gap(
        "sandbox departure",
        "The sandbox sends null for a field that is not set, where GHL omits the key and its schemas are not "
        "nullable (tests/ghl_sandbox/openapi.py compares the same way, via drop_nulls). Only a null "
        "instance is excused.",
        lambda error: error.instance is None and error.validator in ("type", "nullable", "enum"),
    ),
    "contact-attachments-array": Gap(
        "spec artefact",
        "The contact schemas type `attachments` as a string; the webhook examples and the sandbox use an array.",
        lambda error: error.validator == "type"
        and list(error.absolute_path)[-1:] == ["attachments"]
        and isinstance(error.instance, list),
    ),
    "custom-field-by-key": Gap(
        "§c",
        "Custom-field writes: REFERENCE §c documents `[{id | key, field_value}]`; the spec's field schemas require "
        "`id`. An item that names its field by `key` alone (and carries nothing but key and field_value) is "
        "accepted.",
        lambda error: error.validator == "anyOf"
        and "customFields" in [str(p) for p in error.absolute_path]
        and isinstance(error.instance, dict)
        and "id" not in error.instance
        and isinstance(error.instance.get("key"), str)
        and set(error.instance) <= {"key", "field_value"},
    ),
    "free-slots-extra-keys": Gap(
        "§f",
        "GET /calendars/{id}/free-slots: every response may carry traceId besides the YYYY-MM-DD keys.",
        lambda error: bool(error.absolute_path) and not re.match(r"^\d{4}-\d{2}-\d{2}$", str(error.absolute_path[0])),
    ),
}

# REFERENCE.md §c "POST /contacts/search body" (ClickUp doc): the spec leaves it untyped (§i.7).
CONTACTS_SEARCH_BODY = {
    "type": "object",
    "required": ["locationId", "pageLimit"],
    "additionalProperties": False,
    "properties": {
        "locationId": {"type": "string"},
        "page": {"type": "integer", "minimum": 1},
        "pageLimit": {"type": "integer", "minimum": 1, "maximum": 500},
        "searchAfter": {"type": "array"},
        "filters": {"type": "array", "items": {"type": "object"}},
        "sort": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "required": ["field", "direction"],
                "properties": {"field": {"type": "string"}, "direction": {"enum": ["asc", "desc"]}},
            },
        },
        "query": {"type": "string", "maxLength": 75},
    },
    "not": {"required": ["page", "searchAfter"]},
}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    spec_file: str
    uri: str  # file URI of the spec, the base for $refs
    pointer: str  # JSON pointer to the operation inside the spec
    op: dict[str, Any]
    path_params: tuple[dict[str, Any], ...]

    @property
    def operation_id(self) -> str:
        return self.op.get("operationId", f"{self.method} {self.template}")

    @property
    def parameters(self) -> list[dict[str, Any]]:
        return [*self.path_params, *self.op.get("parameters", [])]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@cache
def _load() -> tuple[Registry, tuple[Operation, ...]]:
    if not (SPEC_DIR / "apps").is_dir():
        raise ContractError(f"GHL OpenAPI specs not found at {SPEC_DIR}")
    resources = []
    operations = []
    for path in sorted([*SPEC_DIR.glob("apps/*.json"), *SPEC_DIR.glob("common/*.json")]):
        doc = json.loads(path.read_text())
        uri = path.resolve().as_uri()
        resources.append((uri, Resource.from_contents(doc, default_specification=DRAFT4)))
        if path.parent.name != "apps":
            continue
        for template, item in doc.get("paths", {}).items():
            for method in HTTP_METHODS:
                if method in item:
                    operations.append(
                        Operation(
                            method=method.upper(),
                            template=template,
                            spec_file=path.name,
                            uri=uri,
                            pointer=f"/paths/{_escape(template)}/{method}",
                            op=item[method],
                            path_params=tuple(item.get("parameters", [])),
                        )
                    )
    return Registry().with_resources(resources), tuple(operations)


def find_operation(method: str, path: str) -> tuple[Operation, dict[str, str]]:
    """The spec operation for a concrete path, and the path parameters it binds."""
    _, operations = _load()
    segments = path.split("/")
    best: tuple[int, Operation, dict[str, str]] | None = None
    for operation in operations:
        if operation.method != method.upper():
            continue
        template = operation.template.split("/")
        if len(template) != len(segments):
            continue
        bound: dict[str, str] = {}
        literals = 0
        for t, s in zip(template, segments, strict=True):
            if t.startswith("{") and t.endswith("}"):
                if not s:
                    break
                bound[t[1:-1]] = s
            elif t == s:
                literals += 1
            else:
                break
        else:
            if best is None or literals > best[0]:
                best = (literals, operation, bound)
    if best is None:
        raise ContractError(f"{method} {path}: no such operation in GHL's OpenAPI specs")
    return best[1], best[2]


def _type_checker():
    # GHL's specs use the non-standard `"type": "any"` (e.g. startAfterDate): accept anything for it.
    return OAS30WriteValidator.TYPE_CHECKER.redefine("any", lambda checker, instance: True)


@cache
def _validator_classes():
    write = jsonschema.validators.extend(OAS30WriteValidator, type_checker=_type_checker())
    read = jsonschema.validators.extend(OAS30ReadValidator, type_checker=_type_checker())
    return write, read


def _schema_errors(operation: Operation, pointer: str, instance: Any, *, read: bool) -> list[ValidationError]:
    registry, _ = _load()
    write_cls, read_cls = _validator_classes()
    cls = read_cls if read else write_cls
    validator = cls({"$ref": f"{operation.uri}#{operation.pointer}{pointer}"}, registry=registry)
    return list(validator.iter_errors(instance))


def _plain_errors(schema: Mapping[str, Any], instance: Any) -> list[ValidationError]:
    write_cls, _ = _validator_classes()
    return list(write_cls(schema).iter_errors(instance))


def _coerce(value: str | list[str], schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        values = value if isinstance(value, list) else [value]
        return [_coerce(v, schema.get("items", {})) for v in values]
    if isinstance(value, list):
        value = value[-1] if len(value) == 1 else value
        if isinstance(value, list):
            return value  # repeated scalar: the schema check reports it
    if kind in ("number", "integer"):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _resolve_param_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    if schema.get("type") == "any":
        schema.pop("type")
    return schema


def _format(errors: Iterable[ValidationError]) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def _apply_gaps(errors: list[ValidationError], gaps: Iterable[str]) -> list[ValidationError]:
    selected = []
    for name in gaps:
        if name not in GAPS:
            raise ContractError(f"unknown gap {name!r}; known: {sorted(GAPS)}")
        selected.append(GAPS[name])
    return [e for e in errors if not any(g.excuses(e) for g in selected)]


def validate_request(
    method: str,
    path: str,
    query: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    *,
    content_type: str | None = None,
    gaps: Iterable[str] = (),
) -> Operation:
    """Check one request against its operation; return the operation. ``query`` values may be strings or lists
    of strings (as from ``parse_qs``); ``body`` is the parsed JSON, or a dict of form fields."""
    gaps = tuple(gaps)
    operation, path_params = find_operation(method, path)
    problems: list[str] = []
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    query = dict(query or {})
    declared_query = set()
    for param in operation.parameters:
        name, where = param["name"], param["in"]
        schema = _resolve_param_schema(param.get("schema", {}))
        if where == "query":
            declared_query.add(name)
            value = query.get(name)
        elif where == "header":
            value = headers.get(name.lower())
        elif where == "path":
            value = path_params.get(name)
        else:
            continue
        if value is None:
            if param.get("required"):
                problems.append(f"{where} parameter {name!r} is required")
            continue
        coerced = _coerce(value, schema) if where == "query" else value
        comma_gap = where == "query" and any(GAPS[g].param == name for g in gaps if g in GAPS)
        if comma_gap and isinstance(coerced, str):
            errors = [e for part in coerced.split(",") for e in _plain_errors(schema, part)]
        else:
            errors = _plain_errors(schema, coerced)
        problems += [f"{where} parameter {name!r}: {m}" for m in _format(errors)]
    for name in query:
        if name not in declared_query:
            problems.append(f"query parameter {name!r} is not declared by {operation.operation_id}")
    declares_version = any(p["name"] == "Version" and p["in"] == "header" for p in operation.parameters)
    if not declares_version and "version" in headers:
        problems.append("Version header sent but the operation declares none")
    authorization = headers.get("authorization")
    if operation.op.get("security"):
        if not authorization or not re.match(r"^Bearer \S+$", authorization):
            problems.append("Authorization: Bearer <token> is required")
    elif authorization:
        problems.append("Authorization header sent to an operation without security")

    request_body = operation.op.get("requestBody")
    if request_body is None:
        if body not in (None, b"", ""):
            problems.append("body sent but the operation declares none")
    elif body is None:
        if request_body.get("required"):
            problems.append("request body is required")
    else:
        media_types = list(request_body.get("content", {}))
        media = (content_type or headers.get("content-type") or "application/json").split(";")[0].strip()
        if media not in media_types:
            problems.append(f"content type {media!r} not in {media_types}")
        else:
            pointer = f"/requestBody/content/{_escape(media)}/schema"
            errors = _schema_errors(operation, pointer, body, read=False)
            if media == "application/x-www-form-urlencoded":
                errors = [e for e in errors if e.validator != "type" or not isinstance(e.instance, str)]
            problems += _format(_apply_gaps(errors, gaps))
        if operation.operation_id == "search-contacts-advanced":
            if "contacts-search-body-untyped" not in gaps:
                problems.append("POST /contacts/search: name gap 'contacts-search-body-untyped' (REFERENCE §i.7)")
            problems += [f"(REFERENCE §c search body) {m}" for m in _format(_plain_errors(CONTACTS_SEARCH_BODY, body))]
    if problems:
        raise ContractError(
            f"{method} {path} ({operation.spec_file} {operation.operation_id}):\n  " + "\n  ".join(problems)
        )
    return operation


def validate_response(method: str, path: str, status: int, body: Any, *, gaps: Iterable[str] = ()) -> Operation:
    """Check a response body against the operation's schema for ``status``.

    A 2xx status the spec does not list is an error; an undocumented error status (429, 5xx) is not checked.
    """
    operation, _ = find_operation(method, path)
    responses = operation.op.get("responses", {})
    spec = responses.get(str(status)) or responses.get("default")
    if spec is None:
        if 200 <= status < 300:
            raise ContractError(
                f"{method} {path} ({operation.operation_id}): status {status} not documented (has {sorted(responses)})"
            )
        return operation
    if "application/json" not in spec.get("content", {}):
        return operation
    pointer = f"/responses/{status if str(status) in responses else 'default'}/content/application~1json/schema"
    problems = _format(_apply_gaps(_schema_errors(operation, pointer, body, read=True), gaps))
    if problems:
        raise ContractError(f"{method} {path} -> {status} ({operation.operation_id}):\n  " + "\n  ".join(problems))
    return operation


def validate_prepared_request(request, *, gaps: Iterable[str] = ()) -> Operation:
    """Validate a ``requests.PreparedRequest`` (e.g. ``responses.calls[i].request``)."""
    url = urlsplit(request.url)
    query = parse_qs(url.query, keep_blank_values=True)
    content_type = request.headers.get("Content-Type")
    raw = request.body
    body: Any = None
    if raw:
        text = raw.decode() if isinstance(raw, bytes) else raw
        if content_type and content_type.startswith("application/x-www-form-urlencoded"):
            body = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
        else:
            body = json.loads(text)
    return validate_request(
        request.method, url.path, query, dict(request.headers), body, content_type=content_type, gaps=gaps
    )
