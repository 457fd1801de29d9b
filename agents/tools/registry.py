"""The one tool registry: every surface (REST, OpenAPI, the function-calling manifest, MCP) is built from it.

A tool is declared once, as a `Tool`, and registered explicitly with `registry.register(tool)` from its
family's module (`agents/tools/<family>.py`); `agents/tools/__init__.py` imports the family modules in a
fixed list. Registering a name twice raises.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..models import TOOL_FAMILIES

WRITE_OPTIONS = {
    "idempotency_key": {
        "type": "string", "minLength": 1, "maxLength": 255,
        "description": "Any unique string. Retrying with the same key and input returns the first answer "
                       "without doing the work twice; the same key with a different input is a `conflict`.",
    },
    "dry_run": {
        "type": "boolean", "default": False,
        "description": "Validate, resolve names and say exactly what would change, changing nothing.",
    },
}


@dataclass(frozen=True)
class Tool:
    """One tool. `fn(ctx, **arguments) -> dict` returns the `result` object or raises `ToolError`.

    `input_schema` lists the tool's own properties; a writing tool also gets `idempotency_key` and `dry_run`.
    `description` is what a model reads: it must say when to use the tool and what its errors mean.
    """

    name: str
    family: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    fn: Callable[..., dict[str, Any]]
    writes: bool = False
    destructive: bool = False
    money: bool = False
    title: str = ""

    def __post_init__(self):
        if self.family not in TOOL_FAMILIES:
            raise ValueError(f"tool {self.name!r}: unknown family {self.family!r}")
        if self.input_schema.get("type") != "object":
            raise ValueError(f"tool {self.name!r}: the input schema must be an object")
        if self.writes:
            props = {**self.input_schema.get("properties", {}), **WRITE_OPTIONS}
            object.__setattr__(self, "input_schema", {**self.input_schema, "properties": props})

    def describe(self) -> dict[str, Any]:
        """The declaration as data (the REST tool list)."""
        return {
            "name": self.name, "family": self.family, "title": self.title or self.name.replace("_", " ").capitalize(),
            "description": self.description, "writes": self.writes, "destructive": self.destructive,
            "money": self.money, "input_schema": self.input_schema, "output_schema": self.output_schema,
        }

    def function_spec(self) -> dict[str, Any]:
        """The chat-completion function-calling format."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description, "parameters": self.input_schema}}


def result_envelope_schema(output_schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema of a successful answer of a tool with this output schema."""
    return {"type": "object", "required": ["ok", "result"],
            "properties": {"ok": {"const": True}, "result": output_schema}}


ERROR_ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": ["not_found", "ambiguous", "invalid", "forbidden",
                                                    "unauthorized", "conflict", "rate_limited",
                                                    "ghl_unavailable", "not_connected", "internal"]},
                "message": {"type": "string"},
                "field": {"type": "string"},
                "hint": {"type": "string"},
                "candidates": {"type": "array", "items": {"type": "object"}},
                "retry_after": {"type": "integer"},
            },
        },
    },
}


@dataclass
class ToolRegistry:
    _tools: dict[str, Tool] = field(default_factory=dict)

    def register(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"A tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def all(self, *, families: list[str] | None = None) -> list[Tool]:
        tools = sorted(self._tools.values(), key=lambda t: (TOOL_FAMILIES.index(t.family), t.name))
        return [t for t in tools if families is None or t.family in families]

    def names(self) -> list[str]:
        return [t.name for t in self.all()]


registry = ToolRegistry()
