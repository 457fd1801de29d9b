"""The error codes an agent can act on, and the one exception tools raise to answer with one of them.

Shaped like Stripe's API errors: a stable `code`, a `message` for the model, the `field` at fault and a `hint`
saying what to do next; `ambiguous` carries `candidates`, `rate_limited` carries `retry_after` (seconds).
"""
import dataclasses
from dataclasses import dataclass
from typing import Any

HTTP_STATUS = {
    "not_found": 404,
    "ambiguous": 409,
    "invalid": 400,
    "forbidden": 403,
    "unauthorized": 401,
    "conflict": 409,
    "rate_limited": 429,
    "ghl_unavailable": 503,
    "not_connected": 409,
    "internal": 500,
}
ERROR_CODES = tuple(HTTP_STATUS)


@dataclass
class ToolError(Exception):
    code: str
    message: str
    field: str | None = None
    hint: str | None = None
    candidates: list[dict[str, Any]] | None = None
    retry_after: int | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.code not in HTTP_STATUS:
            raise ValueError(f"unknown tool error code {self.code!r}")
        super().__init__(self.message)

    def within(self, field: str) -> "ToolError":
        """This error, answered about the caller's input `field`: a resolver nested in another reference (the
        contact part of an appointment, the contact of a deal) names its own field, which the tool may not take."""
        return dataclasses.replace(self, field=field)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    def as_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        for name in ("field", "hint", "candidates", "retry_after"):
            value = getattr(self, name)
            if value is not None:
                error[name] = value
        error.update(self.extra)
        return error


def body_too_large(*, size: int | None, limit: int) -> ToolError:
    """A tool call whose body is over `limit` bytes (REST and MCP alike); `size` when it was declared or read."""
    told = f"The body is {size} bytes" if size is not None else f"The body is over {limit} bytes"
    return ToolError("invalid", f"{told}; a tool call takes at most {limit} bytes.",
                     hint="Send large files as links (an http(s) URL in `attachments`), or one file per call.")


def envelope_ok(result: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "result": result}


def envelope_error(error: ToolError) -> dict[str, Any]:
    return {"ok": False, "error": error.as_error()}


def envelope_http_status(envelope: dict[str, Any]) -> int:
    if envelope.get("ok"):
        return 200
    return HTTP_STATUS.get(envelope["error"]["code"], 400)
