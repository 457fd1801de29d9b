"""Contract tests: the real client (`ghl_integration/client/`) against the real sandbox process over loopback HTTP.

Every exchange the client makes goes through one pooled `requests.Session` with a response hook. At teardown each
recorded request is checked against its operation in GHL's OpenAPI specs, and so is each response body the sandbox
returned for it. Known gaps (REFERENCE.md §i) are named per operation below, never excused wholesale.
"""
from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

import pytest
import requests

from ghl_integration.client import GhlClient, GhlOAuth, LocalRateLimiter, RateLimitConfig, RetryPolicy
from ghl_integration.client.base import make_session
from ghl_sandbox import constants as c
from tests.ghl_integration.openapi_contract import find_operation, validate_prepared_request, validate_response

FAST_RETRY = RetryPolicy(max_attempts=4, max_total_s=5.0, base_s=0.02, cap_s=0.2)
TIMEOUT = (2.0, 10.0)

# Known gaps (REFERENCE.md §i) on the request the client sends, per operation id.
REQUEST_GAPS = {
    "create-contact": ("custom-field-by-key",),
    "update-contact": ("custom-field-by-key",),
    "upsert-contact": ("custom-field-by-key",),
    "search-contacts-advanced": ("contacts-search-body-untyped",),
    "send-a-new-message": ("send-message-subtype-status",),
    "get-messages": ("messages-type-comma-list",),
    "Upsert-opportunity": ("opportunity-upsert-2025", "object-typed-scalar"),
}
# Known gaps on the response the sandbox returns: on every operation, and per operation id.
RESPONSE_GAPS_EVERYWHERE = ("unset-as-null",)
RESPONSE_GAPS = {
    "get-contact": ("contact-attachments-array",),
    "create-contact": ("contact-attachments-array",),
    "update-contact": ("contact-attachments-array",),
    "upsert-contact": ("contact-attachments-array",),
    "get-messages": ("messages-list-wrapped",),
    "get-pipelines": ("pipeline-stages-untyped",),
    "get-slots": ("free-slots-extra-keys",),
    "get-calendar-events": ("object-typed-scalar",),
    "get-appointment": ("object-typed-scalar",),
    "create-appointment": ("object-typed-scalar",),
    "edit-appointment": ("object-typed-scalar",),
    "Upsert-opportunity": ("object-typed-scalar",),
}


class Recorder:
    """Collects every response the client's session receives, and contract-checks them all at the end."""

    def __init__(self):
        self.responses: list[requests.Response] = []
        self._unchecked_requests = False

    def hook(self, response: requests.Response, *args, **kwargs) -> None:
        response._contract_check_request = not self._unchecked_requests
        self.responses.append(response)

    @contextlib.contextmanager
    def unchecked_requests(self):
        """For requests a test sends invalid on purpose (a missing required field): their responses are still
        checked, the requests are not."""
        self._unchecked_requests = True
        try:
            yield
        finally:
            self._unchecked_requests = False

    def statuses(self) -> list[int]:
        return [r.status_code for r in self.responses]

    def check(self) -> int:
        problems = []
        for response in self.responses:
            request = response.request
            path = urlsplit(request.url).path
            try:
                operation, _ = find_operation(request.method, path)
                if response._contract_check_request:
                    validate_prepared_request(request, gaps=REQUEST_GAPS.get(operation.operation_id, ()))
                body = response.json() if response.content else None
                validate_response(request.method, path, response.status_code, body,
                                  gaps=RESPONSE_GAPS_EVERYWHERE + RESPONSE_GAPS.get(operation.operation_id, ()))
            except AssertionError as exc:
                problems.append(str(exc))
        assert not problems, "\n".join(problems)
        return len(self.responses)


class SandboxTokens:
    """A token provider backed by the sandbox's OAuth: a code exchanged once, refreshed when forced.

    Records every call (`calls` holds the `force_refresh` flags) so tests can check the provider contract.
    """

    def __init__(self, oauth: GhlOAuth, code: str):
        self.oauth = oauth
        self.tokens = oauth.exchange_code(client_id=c.SANDBOX_CLIENT_ID, client_secret=c.SANDBOX_CLIENT_SECRET,
                                          code=code)
        self.calls: list[bool] = []
        self.refreshes = 0

    def __call__(self, force_refresh: bool = False) -> str:
        self.calls.append(force_refresh)
        if force_refresh:
            self.tokens = self.oauth.refresh(client_id=c.SANDBOX_CLIENT_ID, client_secret=c.SANDBOX_CLIENT_SECRET,
                                             refresh_token=self.tokens["refresh_token"],
                                             user_type=self.tokens.get("userType", "Location"))
            self.refreshes += 1
        return self.tokens["access_token"]


@pytest.fixture
def recorder():
    rec = Recorder()
    yield rec
    rec.check()


@pytest.fixture
def http_session(recorder):
    session = make_session()
    session.trust_env = False  # loopback only: never through a proxy
    session.hooks["response"].append(recorder.hook)
    yield session
    session.close()


@pytest.fixture
def limiter():
    return LocalRateLimiter(RateLimitConfig())


@pytest.fixture
def oauth(sandbox, http_session, limiter):
    return GhlOAuth(base_url=sandbox.base_url, session=http_session, timeout=TIMEOUT, rate_limiter=limiter,
                    retry=FAST_RETRY)


@pytest.fixture
def make_tokens(sandbox, oauth):
    def make(location_id: str = c.DEMO_LOCATION_ID, **code_kw) -> SandboxTokens:
        code_kw = code_kw or {"locationId": location_id}
        return SandboxTokens(oauth, sandbox.control.issue_code(**code_kw)["code"])

    return make


@pytest.fixture
def tokens(make_tokens):
    return make_tokens()


@pytest.fixture
def make_client(sandbox, http_session, limiter):
    def make(token_provider, location_id: str = c.DEMO_LOCATION_ID, **kw) -> GhlClient:
        kw.setdefault("retry", FAST_RETRY)
        return GhlClient(location_id=location_id, token_provider=token_provider, base_url=sandbox.base_url,
                         session=http_session, rate_limiter=kw.pop("rate_limiter", limiter), timeout=TIMEOUT, **kw)

    return make


@pytest.fixture
def ghl(make_client, tokens):
    """A client for the demo location, with a Location token from a real code exchange."""
    return make_client(tokens)


@pytest.fixture
def demo(sandbox):
    """Ids of the demo seed."""
    objects = sandbox.control.objects
    return {
        "contacts": objects("contact", location_id=c.DEMO_LOCATION_ID),
        "custom_fields": objects("customField", location_id=c.DEMO_LOCATION_ID),
        "pipeline": objects("pipeline", c.DEMO_PIPELINE_ID),
        "calendar_id": c.DEMO_CALENDAR_ID,
        "user_id": c.DEMO_USER_ID,
    }
