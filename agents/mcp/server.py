"""The MCP surface of the tool registry (official `mcp` SDK, low-level server, streamable HTTP).

Same keys (as a bearer token), same tools, same answers as REST: `tools/list` is built from the registry for
the key's agent, `tools/call` goes through `agents.tools.dispatch.tool_call` with surface "mcp" and returns
the envelope as structured content (and as JSON text); an `ok: false` envelope is a tool error result.
"""
import functools
import json
from typing import Any

import anyio
import mcp_types as types
from django.conf import settings
from django.db import close_old_connections
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.responses import JSONResponse

from ..services import api_key_authenticate
from ..tools.dispatch import key_refused, tool_call
from ..tools.errors import body_too_large, envelope_error
from ..tools.ratelimit import client_address
from ..tools.registry import Tool, registry, result_envelope_schema

MCP_PATH = "/mcp/"
SERVER_NAME = "agentlevel"


def _bearer_from_headers(headers) -> str:
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _bearer(ctx) -> str:
    request = getattr(ctx, "request", None)
    return _bearer_from_headers(request.headers) if request is not None else ""


def _client_from(peer: str | None, headers) -> str:
    """The caller's address as the invalid-key rate limit counts it (as REST does)."""
    return client_address(peer=peer, forwarded_for=headers.get("x-forwarded-for"))


def _client(ctx) -> str | None:
    request = getattr(ctx, "request", None)
    if request is None:
        return None
    return _client_from(request.client.host if request.client else None, request.headers)


def _as_request(fn, kwargs):
    # What Django does around a request: connections past CONN_MAX_AGE are closed before and after.
    close_old_connections()
    try:
        return fn(**kwargs)
    finally:
        close_old_connections()


async def _in_thread(fn, **kwargs):
    # Django's ORM is synchronous: run it in a worker thread, never on the event loop.
    return await anyio.to_thread.run_sync(functools.partial(_as_request, fn, kwargs))


def mcp_tool(tool: Tool) -> types.Tool:
    return types.Tool(
        name=tool.name, title=tool.title or None, description=tool.description, input_schema=tool.input_schema,
        output_schema=result_envelope_schema(tool.output_schema),
        annotations=types.ToolAnnotations(read_only_hint=not tool.writes, destructive_hint=tool.destructive,
                                          idempotent_hint=not tool.writes, open_world_hint=False),
    )


def _tools_for_key(raw: str) -> list[Tool]:
    key = api_key_authenticate(raw=raw)
    return registry.all(families=list(key.agent.enabled_families or [])) if key else []


async def list_tools(ctx, params) -> types.ListToolsResult:
    tools = await _in_thread(_tools_for_key, raw=_bearer(ctx))
    return types.ListToolsResult(tools=[mcp_tool(t) for t in tools])


def envelope_result(envelope: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(envelope, default=str))],
                                structured_content=envelope, is_error=not envelope.get("ok"))


async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    envelope = await _in_thread(tool_call, tool_name=params.name, arguments=params.arguments or {}, surface="mcp",
                                api_key=_bearer(ctx), client=_client(ctx))
    return envelope_result(envelope)


def build_server() -> Server:
    return Server(SERVER_NAME, version="1", title="AgentLevel",
                  instructions="Operate this organization's GoHighLevel account by name. Every answer is "
                               "{ok, result} or {ok: false, error: {code, message, field?, candidates?, hint?}}.",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _transport_security() -> TransportSecuritySettings:
    hosts = [h for h in settings.ALLOWED_HOSTS if h and h != "*"]
    if not hosts or "*" in settings.ALLOWED_HOSTS:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*hosts, *(f"{h}:*" for h in hosts)],
        allowed_origins=[f"{scheme}://{h}{port}" for h in hosts for scheme in ("http", "https")
                         for port in ("", ":*")],
    )


class BearerRequired:
    """Refuse a request without an active key before the MCP transport sees it: the REST envelope, 401
    `unauthorized`, or 429 `rate_limited` with Retry-After once its address sent too many invalid keys."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            key = await _in_thread(api_key_authenticate, raw=_bearer_from_headers(headers))
            if key is None:
                peer = (scope.get("client") or (None,))[0]
                error = await _in_thread(key_refused, client=_client_from(peer, headers))
                extra = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
                await JSONResponse(envelope_error(error), status_code=error.http_status,
                                   headers={"WWW-Authenticate": "Bearer", **extra})(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse a body over AGENT_TOOL_MAX_BODY_BYTES (REST's limit) with 413 and the envelope (`invalid`, the
    limit, a hint to send a link): by its Content-Length before reading it, and while a chunked body is streamed
    once it grows past the limit. The body, at most the limit, is then handed on whole. The SDK's own cap
    (4 MiB by default, a plain-text 413) is set to the same limit by `build_app`, so REST and MCP take the same
    calls (a 5 MB send_message file is 6.7 MB in base64)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.AGENT_TOOL_MAX_BODY_BYTES
        declared = next((v for k, v in scope.get("headers", []) if k.lower() == b"content-length"), None)
        try:
            size = int(declared) if declared is not None else None
        except ValueError:
            size = None
        if size is not None and size > limit:
            await self._refuse(scope, receive, send, size=size, limit=limit)
            return
        body = bytearray()
        messages = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)  # the client went away: let the app see it
                break
            body.extend(message.get("body", b""))
            if len(body) > limit:
                await self._refuse(scope, receive, send, size=None, limit=limit)
                return
            if not message.get("more_body", False):
                break
        messages.insert(0, {"type": "http.request", "body": bytes(body), "more_body": False})
        del body

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope, receive, send, *, size: int | None, limit: int):
        await JSONResponse(envelope_error(body_too_large(size=size, limit=limit)), status_code=413,
                           headers={"Connection": "close"})(scope, receive, send)


def build_app(*, debug: bool = False) -> Starlette:
    """The MCP ASGI app (Starlette), serving `MCP_PATH`; stateless, JSON answers, so any process can serve."""
    server = build_server()
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, stateless_http=True, json_response=True,
                                     transport_security=_transport_security(), debug=debug,
                                     max_request_body_size=settings.AGENT_TOOL_MAX_BODY_BYTES)
    app.add_middleware(BodyLimit)  # inside BearerRequired: a request without a valid key is not read
    app.add_middleware(BearerRequired)
    return app
