"""Fixtures for GHL integration tests: one real sandbox process per test session, reset for every test."""
import pytest
import requests

from ghl_sandbox import constants as c
from ghl_sandbox.testing import SandboxProcess

VERSIONS = {"/conversations": c.VERSION_2021_04_15, "/calendars": c.VERSION_2021_04_15}


class GhlApi:
    """requests against the sandbox with a bearer token and the module's Version header filled in."""

    def __init__(self, base_url: str, token: str | None):
        self.base_url, self.token = base_url, token
        self.session = requests.Session()
        self.session.trust_env = False

    def request(self, method: str, path: str, *, version: str | None = "auto", token: str | None = "auto", **kw):
        headers = dict(kw.pop("headers", {}))
        if version == "auto":
            version = next((v for prefix, v in VERSIONS.items() if path.startswith(prefix)), c.VERSION_2021_07_28)
        if version:
            headers["Version"] = version
        token = self.token if token == "auto" else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.session.request(method, self.base_url + path, headers=headers, timeout=30, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture(scope="session")
def ghl_sandbox(tmp_path_factory):
    """One sandbox subprocess for the whole test session."""
    sbx = SandboxProcess(state=tmp_path_factory.mktemp("ghl_sandbox") / "state.sqlite3")
    sbx.start()
    yield sbx
    sbx.close()


@pytest.fixture
def sandbox(ghl_sandbox):
    """The session sandbox, reset to the demo seed before the test."""
    ghl_sandbox.control.reset(seed="demo")
    return ghl_sandbox


@pytest.fixture
def api(sandbox):
    """A GhlApi holding a Location token for the demo location (all location scopes)."""
    return GhlApi(sandbox.base_url, sandbox.location_token(c.DEMO_LOCATION_ID)["access_token"])


@pytest.fixture
def make_api(sandbox):
    def make(token: str | None) -> GhlApi:
        return GhlApi(sandbox.base_url, token)

    return make


@pytest.fixture
def ghl_settings(sandbox, settings):
    """Point the product's GHL settings at the (reset) sandbox."""
    settings.GHL_API_BASE_URL = sandbox.base_url
    return settings
