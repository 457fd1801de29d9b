"""The transport every resource module goes through: one pooled session, headers, errors, retries, rate limits.

Retry policy (why each case is or is not retried):

* 429, 503: the request was not processed, so it is retried for every method, POST included.
* 502, 504: a gateway may have forwarded the request before failing, so only idempotent requests are retried
  (GET, PUT, DELETE, and POSTs the caller marks ``idempotent=True``: searches and upserts).
* Connection errors: retried for idempotent requests. A non-idempotent POST is retried only when the request
  provably never left (connect timeout, connection refused, DNS failure). After a *read* timeout or a reset
  the server may have created the contact / sent the SMS already, so we raise :class:`GhlNetworkError` and let
  the caller decide (for messages a duplicate SMS is worse than a failed send).
* Other 4xx: never retried (do not retry 4xx). 401 is special: the token provider is asked for a fresh token
  once and the request is sent once more.

Retries use exponential backoff with full jitter, honour ``Retry-After`` (seconds or HTTP date), and on a 429
without it wait ``X-RateLimit-Interval-Milliseconds`` (scaled by jitter in [0.5, 1]). They are bounded in attempts
and in total time (`RetryPolicy`), and, when someone waits for the answer (`crm.remote_calls.remote_calls_within`,
an agent's tool call), by the time left: no retry ends after it, an idempotent request's timeout is capped to it,
and a request made with no time left raises `GhlNetworkError` unsent.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from crm.remote_calls import remote_call_noted, remote_time_left

from .exceptions import (
    GhlApiError,
    GhlAuthError,
    GhlInvalidGrant,
    GhlNetworkError,
    GhlNotFound,
    GhlOAuthError,
    GhlRateLimited,
    GhlServerError,
    GhlValidationError,
)
from .ratelimit import RateLimiter, default_rate_limiter

logger = logging.getLogger(__name__)

# Per-module `Version` header values (REFERENCE.md §a). POST /oauth/token takes none.
VERSION_2021_07_28 = "2021-07-28"  # contacts, opportunities, locations, users, oauth (non-token)
VERSION_2021_04_15 = "2021-04-15"  # conversations, calendars

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Statuses that mean "not processed": safe to retry even for a non-idempotent POST.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
OAUTH_ERROR_CODES = frozenset(
    {
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    }
)
REQUEST_ID_HEADERS = ("X-Request-Id", "X-Trace-Id", "traceId", "X-Amzn-Trace-Id")
POOL_SIZE = 20
MIN_TIMEOUT_S = 0.2  # an attempt made with almost no time left still gets a chance to answer


class TokenProvider(Protocol):
    def __call__(self, force_refresh: bool = False) -> str:
        """Return a valid access token. With ``force_refresh=True`` the current one was refused (401):
        return a fresh one (refreshing it if no other worker already did), or raise ``GhlAuthError``."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one request. The defaults are production's (tuning, not configuration): a
    caller or a test that needs others passes its own."""

    max_attempts: int = 5
    max_total_s: float = 60.0
    base_s: float = 0.5
    cap_s: float = 15.0


DEFAULT_RETRY = RetryPolicy()


def seg(value: str) -> str:
    """Quote one path segment (ids come from GHL and webhooks; never trust them to be URL-safe)."""
    return quote(str(value), safe="")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date. ``None`` when absent or unparseable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _request_not_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (safe to retry a non-idempotent POST)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _error_message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for key in ("message", "error_description", "error", "detail"):
            value = body.get(key)
            if isinstance(value, list) and value:
                return ", ".join(str(v) for v in value)
            if value:
                return str(value)
    return fallback


def response_request_id(response: requests.Response, body: Any) -> str | None:
    """GHL's ``traceId`` (every body may carry it) or a request-id header."""
    request_id = body.get("traceId") if isinstance(body, dict) else None
    if not request_id:
        request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), None)
    return str(request_id) if request_id else None


def build_error(
    response: requests.Response, *, method: str, path: str, oauth: bool = False, now: float | None = None
) -> GhlApiError:
    """Map a non-2xx response to the matching :class:`GhlApiError` subclass."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {"raw": response.text[:500]} if response.text else None
    status = response.status_code
    request_id = response_request_id(response, body)
    kwargs = {
        "status": status,
        "body": body,
        "request_id": request_id,
        "method": method,
        "path": path,
        "retry_after": parse_retry_after(response.headers.get("Retry-After"), now=now),
    }
    message = _error_message(body, response.reason or f"HTTP {status}")
    oauth_code = body.get("error") if isinstance(body, dict) else None
    if oauth and oauth_code in OAUTH_ERROR_CODES:
        cls = GhlInvalidGrant if oauth_code == "invalid_grant" else GhlOAuthError
        return cls(message, **kwargs)
    if status in (400, 422):
        cls = GhlValidationError
    elif status in (401, 403):
        cls = GhlAuthError
    elif status == 404:
        cls = GhlNotFound
    elif status == 429:
        cls = GhlRateLimited
    elif status >= 500:
        cls = GhlServerError
    else:
        cls = GhlApiError
    return cls(message, **kwargs)


class _NotifyingAdapter(HTTPAdapter):
    """Calls ``on_send()`` as each request goes to the wire (the request is built and its slot taken by then)."""

    def __init__(self, *args, on_send: Callable[[], None], **kwargs):
        super().__init__(*args, **kwargs)
        self.on_send = on_send

    def send(self, request, *args, **kwargs):
        self.on_send()
        return super().send(request, *args, **kwargs)


def make_session(base_url: str | None = None, *, pool_size: int = POOL_SIZE,
                 on_send: Callable[[], None] | None = None) -> requests.Session:
    """A pooled session; ``pool_size`` connections kept open per host (a pull with more requests in flight than
    the default would otherwise open and drop a connection per request). ``on_send()`` is called as each
    request leaves (the sliced pull holds its page writes while a burst goes out)."""
    session = requests.Session()
    # Retries are ours (see the module docstring); urllib3's own retries stay off.
    pool = {"pool_connections": POOL_SIZE, "pool_maxsize": max(1, pool_size), "max_retries": 0}
    adapter = HTTPAdapter(**pool) if on_send is None else _NotifyingAdapter(**pool, on_send=on_send)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if base_url:
        # The proxy and CA settings from the environment, read once for GHL's host rather than on every request
        # (requests re-reads the environment per request: about a millisecond, and a pull makes hundreds).
        session.proxies = requests.utils.get_environ_proxies(base_url)
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
    return session


class GhlHttp:
    """Sends one logical request to GHL, with auth, `Version`, rate limiting, retries and error mapping.

    ``rate_limit_key`` is the resource whose quota requests count against (the location id); ``None`` disables
    rate limiting (the OAuth token endpoint). ``sleep``, ``clock`` and ``rng`` are injectable for tests.
    """

    def __init__(
        self,
        *,
        token_provider: TokenProvider | None = None,
        base_url: str | None = None,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] | None = None,
        rate_limiter: RateLimiter | None = None,
        rate_limit_key: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        from django.conf import settings

        self.token_provider = token_provider
        self.base_url = (base_url or settings.GHL_API_BASE_URL).rstrip("/")
        self.session = session or make_session(self.base_url)
        if timeout is None:
            timeout = (settings.GHL_HTTP_CONNECT_TIMEOUT, settings.GHL_HTTP_TIMEOUT)
        self.timeout = timeout
        self.rate_limiter = rate_limiter if rate_limiter is not None else default_rate_limiter()
        self.rate_limit_key = rate_limit_key
        self.retry = retry or DEFAULT_RETRY
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    def request(
        self,
        method: str,
        path: str,
        *,
        version: str | None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, Any] | None = None,
        files: Any = None,
        auth: bool = True,
        idempotent: bool | None = None,
        rate_limit_key: str | None = None,
        oauth: bool = False,
        token_provider: TokenProvider | None = None,
    ) -> Any:
        """Send the request and return the parsed JSON body (``{}`` for an empty 2xx body).

        ``idempotent`` defaults to ``method != "POST"``. ``oauth=True`` maps OAuth-style ``{"error": ...}``
        bodies to :class:`GhlOAuthError` / :class:`GhlInvalidGrant`. ``token_provider`` overrides the transport's
        one for this call. Raises a :class:`GhlApiError` subclass.
        """
        provider = token_provider or self.token_provider
        method = method.upper()
        if idempotent is None:
            idempotent = method != "POST"
        key = rate_limit_key or self.rate_limit_key
        params = {k: v for k, v in (params or {}).items() if v is not None}
        url = self.base_url + path
        started = self._clock()
        retries = 0
        force_refresh = False
        refreshed = False
        while True:
            left = remote_time_left()
            if left is not None and left <= 0:
                # Someone waits for this answer and its time is up (`crm.remote_calls.remote_calls_within`).
                raise GhlNetworkError("no time left to wait for GHL", method=method, path=path)
            slot = None
            if key and self.rate_limiter is not None:
                try:
                    _, slot = self.rate_limiter.acquire_slot(key)
                except GhlRateLimited as exc:
                    exc.method, exc.path = method, path
                    raise
            headers = {"Accept": "application/json"}
            if version:
                headers["Version"] = version
            if auth:
                try:
                    headers["Authorization"] = f"Bearer {self._token(provider, force_refresh)}"
                except BaseException:
                    if slot is not None:  # never sent; the slot must not stay in flight (it would hold its place)
                        self.rate_limiter.complete(key, slot)
                    raise
                force_refresh = False
            sent_at = self._clock()
            try:
                try:
                    response = self.session.request(
                        method, url, params=params, json=json, data=form, files=files, headers=headers,
                        timeout=self._timeout_within(left) if idempotent else self.timeout,
                    )
                except BaseException:
                    if slot is not None:
                        # GHL counted the request on arrival, if it got there, which was before now: the slot
                        # counts from now (with a response, `sync_headers` below does it).
                        self.rate_limiter.complete(key, slot)
                    raise
            except requests.RequestException as exc:
                error = GhlNetworkError(f"{type(exc).__name__} talking to GHL", method=method, path=path)
                retry_ok = idempotent or _request_not_sent(exc)
                delay = self._backoff(retries)
                if retry_ok and self._may_retry(retries, started, delay):
                    retries += 1
                    self._log_retry(method, path, None, type(exc).__name__, retries, delay)
                    self._sleep(delay)
                    continue
                logger.warning(
                    "ghl.client.network-error",
                    extra={"method": method, "path": path, "error": type(exc).__name__, "attempts": retries + 1},
                )
                raise error from exc

            status = response.status_code
            logger.info(
                "ghl.client.request",
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": int((self._clock() - sent_at) * 1000),
                    "attempt": retries + 1,
                    "ratelimit_key": key,
                },
            )
            if key and self.rate_limiter is not None:
                self.rate_limiter.sync_headers(key, response.headers, slot=slot, complete=True)
            if status < 400:
                data = self._parse(response, method, path)
                remote_call_noted(request_id=response_request_id(response, data))
                return data

            if status == 401 and auth and not refreshed and provider is not None:
                # The token may have expired between the provider's check and GHL's: ask for a fresh one, once.
                refreshed = True
                force_refresh = True
                logger.info("ghl.client.token-refresh", extra={"method": method, "path": path})
                continue

            error = build_error(response, method=method, path=path, oauth=oauth)
            remote_call_noted(request_id=error.request_id)
            delay = self._retry_delay(response, error, retries)
            if status == 429 and key and self.rate_limiter is not None:
                # Every process sharing the limiter stays off this location until the retry delay has passed.
                self.rate_limiter.hold(key, delay)
            if status in RETRY_STATUSES and (idempotent or status in NOT_PROCESSED_STATUSES):
                if self._may_retry(retries, started, delay):
                    retries += 1
                    self._log_retry(method, path, status, error.request_id, retries, delay)
                    self._sleep(delay)
                    continue
            logger.warning(
                "ghl.client.error",
                extra={
                    "method": method,
                    "path": path,
                    "status": status,
                    "request_id": error.request_id,
                    "error_class": type(error).__name__,
                    "attempts": retries + 1,
                },
            )
            raise error

    # -- helpers -------------------------------------------------------------------------------------------------

    @staticmethod
    def _token(provider: TokenProvider | None, force_refresh: bool) -> str:
        if provider is None:
            raise GhlAuthError("No token provider configured for an authenticated GHL request")
        return provider(force_refresh=True) if force_refresh else provider()

    def _parse(self, response: requests.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise GhlNetworkError(
                "GHL returned a non-JSON success body", status=response.status_code, method=method, path=path
            )

    def _backoff(self, retries: int) -> float:
        return self._rng.uniform(0, min(self.retry.cap_s, self.retry.base_s * (2**retries)))

    def _retry_delay(self, response: requests.Response, error: GhlApiError, retries: int) -> float:
        if error.retry_after is not None:
            return error.retry_after
        if response.status_code == 429:
            interval_ms = response.headers.get("X-RateLimit-Interval-Milliseconds")
            try:
                interval_s = float(interval_ms) / 1000.0 if interval_ms else None
            except ValueError:
                interval_s = None
            if interval_s:
                return min(self.retry.cap_s, interval_s * self._rng.uniform(0.5, 1.0))
        return self._backoff(retries)

    def _timeout_within(self, left: float | None):
        """The attempt's timeout, capped to the time left when someone waits (safe: the request may be repeated)."""
        if left is None:
            return self.timeout
        cap = max(MIN_TIMEOUT_S, left)
        if isinstance(self.timeout, tuple):
            return tuple(min(t, cap) for t in self.timeout)
        return min(self.timeout, cap)

    def _may_retry(self, retries: int, started: float, delay: float) -> bool:
        if retries + 1 >= self.retry.max_attempts:
            return False
        left = remote_time_left()
        if left is not None and delay >= left:
            return False  # the retry would answer after the caller stopped waiting
        return (self._clock() - started) + delay <= self.retry.max_total_s

    def _log_retry(self, method, path, status, detail, attempt, delay) -> None:
        logger.warning(
            "ghl.client.retry",
            extra={
                "method": method,
                "path": path,
                "status": status,
                "detail": detail,
                "retry": attempt,
                "delay_s": round(delay, 3),
            },
        )


class Resource:
    """Base for one API module: holds the transport and the location the client is bound to."""

    version: str = VERSION_2021_07_28

    def __init__(self, http: GhlHttp, location_id: str) -> None:
        self._http = http
        self.location_id = location_id

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._http.request("GET", path, version=self.version, params=params)

    def _send(self, method: str, path: str, body: Any = None, *, idempotent: bool | None = None, params=None) -> Any:
        return self._http.request(method, path, version=self.version, json=body, idempotent=idempotent, params=params)
