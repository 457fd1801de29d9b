"""REST surface of the tool registry: thin views over `agents.tools.dispatch.tool_call`.

    GET  /api/agent/tools/            the tools this key's agent may call (declarations)
    GET  /api/agent/tools/manifest/   the same in the chat-completion function-calling format
    POST /api/agent/tools/<name>/     run one tool; body = its input object; `Authorization: Bearer <key>`
"""
import dataclasses
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import MethodNotAllowed, ParseError, UnsupportedMediaType
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy.error_pages import error_json

from ..services import api_key_authenticate
from ..tools.dispatch import key_refused, tool_call
from ..tools.errors import ToolError, body_too_large, envelope_error, envelope_http_status
from ..tools.ratelimit import client_address
from ..tools.registry import Tool, registry


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def request_client(request: Request) -> str:
    """The caller's address as the invalid-key rate limit counts it."""
    return client_address(peer=request.META.get("REMOTE_ADDR"), forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"))


# A body over the limit is `invalid` for the caller to act on, and 413 for HTTP clients and proxies (as MCP's).
BODY_TOO_LARGE_STATUS = 413
RUN_BODY_HINT = ("Send the instruction as JSON (a few thousand characters at most), or a recording as "
                 "multipart/form-data in `audio`.")


def envelope_response(envelope: dict[str, Any], *, status: int | None = None) -> Response:
    """The HTTP answer of a tool envelope: its status (its error code's unless given), and ``Retry-After`` when the
    error names a wait."""
    response = Response(envelope, status=status or envelope_http_status(envelope))
    retry_after = (envelope.get("error") or {}).get("retry_after")
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


class AgentApiView(APIView):
    """Base of the agent API's views (tools and runs): authenticated by the agent's API key, not a session."""

    # The key is checked by the dispatcher (or below), never by a session: no CSRF, no cookies.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def handle_exception(self, exc: Exception) -> Response:
        """A body DRF or Django could not take, or a method the endpoint does not answer to, gets the JSON error
        every other answer here has (not DRF's ``{"detail": …}`` nor the generic 400 page)."""
        if isinstance(exc, MethodNotAllowed):  # as every other /api/ path answers it (tenancy.error_pages)
            allowed = ", ".join(self.allowed_methods)
            answer = error_json(405, allowed=allowed)
            answer["Allow"] = allowed
            return answer
        if isinstance(exc, RequestDataTooBig):  # a non-file body over DATA_UPLOAD_MAX_MEMORY_SIZE (the runs API)
            too_large = body_too_large(size=_declared_length(self.request), limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            return envelope_response(envelope_error(dataclasses.replace(too_large, hint=RUN_BODY_HINT)),
                                     status=BODY_TOO_LARGE_STATUS)
        if isinstance(exc, UnsupportedMediaType):
            return envelope_response(envelope_error(_not_json(self.request)))
        if isinstance(exc, ParseError):
            return envelope_response(envelope_error(_unreadable_json()))
        return super().handle_exception(exc)

    def _agent_tools(self, request: Request) -> list[Tool] | Response:
        key = api_key_authenticate(raw=bearer_token(request))
        if key is None:
            return envelope_response(envelope_error(key_refused(client=request_client(request))))
        return registry.all(families=list(key.agent.enabled_families or []))


@extend_schema(exclude=True)
class ToolListApi(AgentApiView):
    def get(self, request: Request) -> Response:
        tools = self._agent_tools(request)
        if isinstance(tools, Response):
            return tools
        return Response({"ok": True, "result": {"tools": [t.describe() for t in tools]}})


@extend_schema(exclude=True)
class ToolManifestApi(AgentApiView):
    def get(self, request: Request) -> Response:
        tools = self._agent_tools(request)
        if isinstance(tools, Response):
            return tools
        return Response({"ok": True, "result": {"tools": [t.function_spec() for t in tools]}})


class _BodyTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(size)
        self.size = size


def _declared_length(request) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) or None
    except ValueError:
        return None


def _not_json(request) -> ToolError:
    return ToolError("invalid", f"The body must be JSON, not {request.content_type or 'untyped'}.",
                     hint="Send the input as a JSON object with Content-Type: application/json.")


def _unreadable_json() -> ToolError:
    return ToolError("invalid", "The body is not valid JSON.", hint="Send the input as a JSON object.")


def _json_body(request: Request) -> Any:
    """The JSON body ({} when empty), read as a stream bounded by AGENT_TOOL_MAX_BODY_BYTES. Not through
    `request.body` (nor DRF's parser, which reads it): Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) guards it and
    would refuse a file the tools take (send_message: 5 MB, 6.7 MB in base64) with a bare 400."""
    length = _declared_length(request) or 0
    if length <= 0:
        return {}
    if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(request.content_type)
    cap = settings.AGENT_TOOL_MAX_BODY_BYTES
    if length > cap:
        raise _BodyTooLarge(length)
    raw = request._request.read(cap + 1)
    if len(raw) > cap:
        raise _BodyTooLarge(len(raw))
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except ValueError:
        raise ParseError()


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: DRF's strict JSON refuses them too


class ToolRunApi(AgentApiView):
    """Runs `tool_name`; one subclass per tool is generated by `tool_run_view` (one OpenAPI operation each)."""

    tool_name = ""
    # The input is a JSON object: a form's values would reach the tool as lists.
    parser_classes = [JSONParser]

    def post(self, request: Request, name: str | None = None) -> Response:
        try:
            arguments = _json_body(request)
        except _BodyTooLarge as exc:
            return envelope_response(envelope_error(body_too_large(size=exc.size,
                                                                   limit=settings.AGENT_TOOL_MAX_BODY_BYTES)),
                                     status=BODY_TOO_LARGE_STATUS)
        return envelope_response(tool_call(tool_name=self.tool_name or name or "", arguments=arguments, surface="rest",
                                           api_key=bearer_token(request), client=request_client(request),
                                           idempotency_key=request.headers.get("Idempotency-Key") or None))


def tool_run_view(tool: Tool):
    """A view class for one tool; its request and response schemas are filled in by `schema.tools_postprocess`."""
    def post(self, request: Request, name: str | None = None) -> Response:
        return ToolRunApi.post(self, request, name)

    post = extend_schema(operation_id=tool.name, summary=tool.title or tool.name, description=tool.description,
                         tags=[tool.family], request=None, responses=None)(post)
    return type(f"{tool.name.title().replace('_', '')}Api", (ToolRunApi,), {"tool_name": tool.name, "post": post})


@extend_schema(exclude=True)
class UnknownToolApi(ToolRunApi):
    pass
