"""The sandbox's HTTP server: keep-alive connections, as GHL serves, without losing framing on any path."""
import http.client
import json
import time

import requests
import urllib3.connection

from ghl_sandbox import constants as c
from ghl_sandbox.testing import SandboxProcess

LOC = c.DEMO_LOCATION_ID
CONSENT_QUERY = (f"response_type=code&client_id={c.SANDBOX_CLIENT_ID}&redirect_uri=http://127.0.0.1:9/cb"
                 "&scope=contacts.readonly&state=s1")


def _counting_connects(monkeypatch) -> list:
    connects: list = []
    original = urllib3.connection.HTTPConnection.connect

    def connect(self):
        connects.append(self.port)
        return original(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", connect)
    return connects


def test_one_session_reuses_one_connection(api, monkeypatch):
    # given
    connects = _counting_connects(monkeypatch)

    # when
    responses = [api.post("/contacts/search", json={"locationId": LOC, "pageLimit": 10}) for _ in range(5)]
    responses.append(api.get("/contacts/nope"))

    # then
    assert [r.status_code for r in responses] == [200] * 5 + [404]
    assert all(r.headers.get("Connection") != "close" for r in responses)
    assert len(connects) == 1


def test_every_kind_of_answer_keeps_the_connection_usable(sandbox):
    # given: one raw connection, so a framing mistake shows as a hang, a garbled reply or a closed socket
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    token = sandbox.location_token(LOC)["access_token"]
    api_headers = {"Authorization": f"Bearer {token}", "Version": c.VERSION_2021_07_28,
                   "Content-Type": "application/json"}
    unread_body = json.dumps({"locationId": LOC, "padding": "x" * 200_000})
    requests_ = [
        ("GET", "/_sandbox/health", None, {}, 200),
        ("POST", "/_sandbox/seed", "not json", {}, 400),  # control API error
        ("GET", "/_sandbox/nope", None, {}, 404),
        ("POST", "/contacts/search", unread_body, {"Content-Type": "application/json"}, 401),  # body never read
        ("POST", "/contacts/search", json.dumps({"locationId": LOC, "pageLimit": 5}), api_headers, 200),
        ("GET", f"/oauth/chooselocation?{CONSENT_QUERY}", None, {}, 200),  # HTML consent page
        ("POST", "/oauth/chooselocation", f"{CONSENT_QUERY}&decision=deny&location_id={LOC}",
         {"Content-Type": "application/x-www-form-urlencoded"}, 302),  # empty redirect body
        ("HEAD", "/_sandbox/health", None, {}, 200),
        ("GET", "/_sandbox/health", None, {}, 200),
    ]
    sock = None

    for method, path, body, headers, status in requests_:
        # when
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()

        # then
        assert resp.status == status, (method, path, payload[:200])
        if method != "HEAD":
            assert int(resp.getheader("Content-Length")) == len(payload)
        assert conn.sock is not None, f"server closed the connection after {method} {path}"
        sock = sock or conn.sock
        assert conn.sock is sock
    conn.close()


def test_connection_close_is_honoured(sandbox):
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)

    conn.request("GET", "/_sandbox/health", headers={"Connection": "close"})
    resp = conn.getresponse()
    resp.read()

    assert resp.getheader("Connection") == "close" and conn.sock is None


def test_stop_does_not_wait_for_idle_connections(tmp_path):
    with SandboxProcess(state=tmp_path / "state.sqlite3") as sbx:
        idle = requests.Session()
        idle.trust_env = False
        assert idle.get(f"{sbx.base_url}/_sandbox/health", timeout=5).status_code == 200
        started = time.monotonic()

        sbx.stop()

        assert time.monotonic() - started < 5
        idle.close()
