"""The sandbox WSGI application: routing, bearer auth, Version and scope checks, rate limits, faults, logging.

Order of checks for an API route: match -> bearer token (401) -> token class (401) -> rate limit (429) ->
injected faults -> scope (401) -> Version header (400) -> handler. Every response carries `traceId` (JSON
bodies) and the five X-RateLimit-* headers.
"""
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from . import auth
from .config import Config
from .errors import ApiError, bad_request, forbidden, not_found, unauthorized, unprocessable
from .faults import Faults
from .ratelimit import RateLimiter
from .store import Store
from .webhooks import Dispatcher, Signer

logger = logging.getLogger(__name__)
AUTH_CLASS_ERROR = "This AuthClass is not yet supported for this route."


@dataclass
class Route:
    method: str
    template: str
    handler: Callable
    scope: str | None = None
    version: str | None = None
    auth: str = "location"  # location | company | any | none
    regex: re.Pattern = field(init=False)

    def __post_init__(self):
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template.rstrip("/") or "/")
        self.regex = re.compile(f"^{pattern}/?$")


def route(method, template, handler, **kw) -> Route:
    return Route(method, template, handler, **kw)


class JsonText(str):
    """JSON already encoded, for a top-level value of a handler's body: spliced in as is (cached search items)."""


def encode_body(body) -> str:
    """`json.dumps(body)`, byte for byte, except that top-level `JsonText` values are not encoded again."""
    if not isinstance(body, dict) or not any(isinstance(v, JsonText) for v in body.values()):
        return json.dumps(body)
    # json.dumps' default separators are ", " and ": ".
    parts = (f"{json.dumps(k)}: {v if isinstance(v, JsonText) else json.dumps(v)}" for k, v in body.items())
    return "{" + ", ".join(parts) + "}"


@dataclass
class Ctx:
    """What a handler gets: the request, path params, the token (None on open routes) and the sandbox."""

    sandbox: "Sandbox"
    request: Request
    params: dict
    token: dict | None
    _json: Any = None

    @property
    def store(self) -> Store:
        return self.sandbox.store

    @property
    def query(self):
        return self.request.args

    def json(self) -> dict:
        if self._json is None:
            raw = self.request.get_data(cache=True)
            if not raw:
                self._json = {}
            else:
                try:
                    self._json = json.loads(raw)
                except ValueError:
                    raise bad_request("Unexpected token in JSON")
            if not isinstance(self._json, dict):
                raise bad_request("Body must be a JSON object")
        return self._json

    def emit(self, event_type: str, location_id: str | None, fields: dict, **kw):
        return self.sandbox.dispatcher.emit(event_type, location_id, fields, **kw)

    # -- tenancy checks --------------------------------------------------------------------------
    def check_location(self, location_id: str | None) -> str:
        """The location this request may act on; 422 when missing, 403 when the token may not touch it."""
        if not location_id:
            raise unprocessable("locationId should not be empty")
        tok = self.token or {}
        if tok.get("userType") == "Location":
            if location_id != tok.get("locationId"):
                raise forbidden("The token does not have access to this location.")
        elif tok.get("userType") == "Company":
            loc = self.store.get("location", location_id)
            if loc is None or loc.get("companyId") != tok.get("companyId"):
                raise forbidden("The token does not have access to this location.")
        if self.store.get("location", location_id) is None:
            raise bad_request("Location not found")
        return location_id

    def token_location(self) -> str:
        return (self.token or {}).get("locationId")

    def load(self, kind: str, id_: str, label: str) -> dict:
        """The object `id_` of `kind` visible to this token, else 404 (another location's ids look missing)."""
        doc = self.store.get(kind, id_)
        if doc is None or not self._visible(doc.get("locationId")):
            raise not_found(f"{label} not found")
        return doc

    def _visible(self, location_id) -> bool:
        tok = self.token or {}
        if tok.get("userType") == "Location":
            return location_id == tok.get("locationId")
        if tok.get("userType") == "Company":
            loc = self.store.get("location", location_id)
            return loc is not None and loc.get("companyId") == tok.get("companyId")
        return True


class Sandbox:
    """One sandbox: state, config and the background webhook dispatcher, exposed as a WSGI app."""

    def __init__(self, state_path: str, *, keys_dir: str | None = None, launch_config: dict | None = None):
        from . import control, routes, ui

        self.store = Store(state_path)
        routes.register_row_caches(self.store)
        self.config = Config(self.store)
        # Settings given on the command line; applied at start and again after every control-API reset.
        self.launch_config = launch_config or {}
        if self.launch_config:
            self.config.update(self.launch_config)
        self.faults = Faults(self.config)
        self.ratelimiter = RateLimiter(self.config)
        self.signer = Signer(keys_dir)
        self.dispatcher = Dispatcher(self.store, self.config, self.faults, self.signer)
        self.routes: list[Route] = routes.all_routes()
        self.control = control
        self.ui = ui

    def close(self) -> None:
        self.dispatcher.stop()
        self.store.close()

    def __call__(self, environ, start_response):
        request = Request(environ)
        started = time.monotonic()
        trace_id = str(uuid.uuid4())
        path = request.path
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            response = self.control.dispatch(self, request)
            return response(environ, start_response)
        log = {"location_id": None, "company_id": None, "client_id": None, "grant_type": None, "trace_id": None}
        if path.rstrip("/") in ("/oauth/chooselocation", "/v2/oauth/chooselocation"):
            response = self.ui.chooselocation(self, request)
        else:
            response = self._api(request, trace_id, log)
        self.store.log_request(t=time.time(), method=request.method, path=path, status=response.status_code,
                               duration_ms=round((time.monotonic() - started) * 1000, 2), **log)
        return response(environ, start_response)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict, bool]:
        path_matched = False
        for r in self.routes:
            m = r.regex.match(path)
            if m:
                path_matched = True
                if r.method == method:
                    return r, m.groupdict(), True
        return None, {}, path_matched

    def _api(self, request: Request, trace_id: str, log: dict) -> Response:
        rl_headers: dict = self.ratelimiter.hit(None)[1]
        try:
            r, params, _ = self._match(request.method, request.path)
            if r is None:
                raise not_found(f"Cannot {request.method} {request.path}")
            token = None
            if r.auth != "none":
                token = auth.authenticate(self, request)
                log.update(location_id=token.get("locationId"), company_id=token.get("companyId"),
                           client_id=token.get("clientId"))
                if r.auth in ("location", "company") and token["userType"].lower() != r.auth:
                    raise unauthorized(AUTH_CLASS_ERROR)
                resource = token.get("locationId") if token["userType"] == "Location" else token.get("companyId")
                allowed, rl_headers = self.ratelimiter.hit((token.get("clientId"), resource))
                if not allowed:
                    raise ApiError(429, {"statusCode": 429, "message": "Too Many Requests"})
            fault, latency = self.faults.api_fault()
            if latency:
                time.sleep(latency)
            if fault == 429:
                raise ApiError(429, {"statusCode": 429, "message": "Too Many Requests"})
            if fault:
                raise ApiError(fault, {"statusCode": fault, "message": "Injected server error"})
            if r.scope and r.scope not in token.get("scopes", []):
                raise unauthorized("The token is not authorized for this scope.")
            if r.version:
                self._check_version(request, r.version)
            ctx = Ctx(self, request, params, token)
            if r.auth == "none" and r.template == "/oauth/token":
                log["grant_type"] = request.form.get("grant_type")
                log["client_id"] = request.form.get("client_id")
            result = r.handler(ctx)
            if isinstance(result, Response):
                result.headers.update(rl_headers)
                return result
            status, body = result
            if token is None and isinstance(body, dict) and body.get("locationId"):
                log["location_id"] = body.get("locationId")
        except ApiError as exc:
            status, body = exc.status, exc.body
            rl_headers = {**rl_headers, **exc.headers}
        except Exception:
            logger.exception("ghl.sandbox.handler-crashed")
            status, body = 500, {"statusCode": 500, "message": "Internal server error"}
        if isinstance(body, dict):
            body = {**body, "traceId": trace_id}
            log["trace_id"] = trace_id  # the request log names it, so a test can find the request a client noted
        return Response(encode_body(body), status=status, headers=rl_headers, content_type="application/json")

    def _check_version(self, request: Request, expected: str) -> None:
        mode = self.config["version_check"]
        got = request.headers.get("Version")
        if mode == "off" or got == expected:
            return
        if got is None and mode == "lenient":
            return
        if got is None:
            raise bad_request("Version header is required")
        raise bad_request(f"Version header must be {expected}")
