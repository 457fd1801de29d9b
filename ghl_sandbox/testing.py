"""Run the sandbox from tests and benchmarks as a real subprocess, talk to its control API, get tokens.

    with SandboxProcess(seed="demo") as sbx:
        token = sbx.location_token(DEMO_LOCATION_ID)["access_token"]
        requests.get(f"{sbx.base_url}/contacts/...", headers={"Authorization": f"Bearer {token}", ...})
        sbx.control.change_contact("update", contactId=..., firstName="Ann")

`WebhookReceiver` is a tiny loopback HTTP server that records deliveries and answers programmed statuses.
"""
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from . import constants as c
from .server import READY_LINE

REPO_ROOT = Path(__file__).resolve().parents[1]


class SandboxControl:
    """Thin client for /_sandbox/. Methods return the decoded JSON; errors raise `requests.HTTPError`."""

    def __init__(self, owner: "SandboxProcess"):
        self.owner = owner
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a proxy

    def _call(self, method: str, path: str, body: dict | None = None, params: dict | None = None):
        resp = self.session.request(method, f"{self.owner.base_url}/_sandbox/{path}", json=body, params=params,
                                    timeout=120)
        resp.raise_for_status()
        return resp.json()

    def health(self) -> dict:
        return self._call("GET", "health")

    def reset(self, seed: str | None = None) -> dict:
        return self._call("POST", "reset", {"seed": seed} if seed else {})

    def seed(self, **kw) -> dict:
        """Seed a location: locationId, companyId, name, contacts, users, pipelines, calendars, customFields,
        allowDuplicateContact, timezone; or demo=True."""
        return self._call("POST", "seed", kw)

    def create_company(self, **kw) -> dict:
        return self._call("POST", "companies", kw)

    def create_location(self, **kw) -> dict:
        return self._call("POST", "locations", kw)

    def location_settings(self, location_id: str, **settings) -> dict:
        return self._call("PATCH", f"locations/{location_id}/settings", settings)

    def change(self, action: str, **data) -> dict:
        """A change as a GHL user would make it, e.g. change("opportunity.update", opportunityId=..., status="won")."""
        return self._call("POST", f"changes/{action}", data)

    def change_contact(self, action: str, **data) -> dict:
        return self.change(f"contact.{action}", **data)

    def inbound_message(self, contact_id: str, message: str, type: str = "SMS", **data) -> dict:
        return self.change("message.inbound", contactId=contact_id, message=message, type=type, **data)

    def config(self, **patch) -> dict:
        return self._call("PATCH", "config", patch) if patch else self._call("GET", "config")

    def webhooks(self, **settings) -> dict:
        """Webhook settings: urls, max_retries, retry_spacing_s, retry_jitter_s, timeout_s, emit_generic_update."""
        return self._call("PATCH", "webhooks", settings) if settings else self._call("GET", "webhooks")

    def faults(self, seed=None, webhook: dict | None = None, api: dict | None = None,
               messages: dict | None = None) -> dict:
        patch: dict = {"seed": seed}
        if webhook:
            patch["webhook"] = webhook
        if api:
            patch["api"] = api
        if messages:
            patch["messages"] = messages
        return self._call("PATCH", "faults", patch)

    def clear_faults(self) -> dict:
        return self.faults(webhook={"drop": 0, "duplicate": 0, "delay": 0, "reorder": 0},
                           api={"http_429": 0, "http_5xx": 0, "latency_ms": 0, "latency_jitter_ms": 0})

    def rate_limits(self, **limits) -> dict:
        """max, interval_ms, daily, enabled; resets the counters unless reset=False."""
        return self._call("PATCH", "rate-limits", limits)

    def set_token_ttl(self, ttl: int) -> dict:
        return self._call("PUT", "tokens/ttl", {"ttl": ttl})

    def expire_tokens(self) -> dict:
        return self._call("POST", "tokens/expire")

    def issue_code(self, **kw) -> dict:
        """An authorization code without the browser: locationId=... or companyId=..., optional scope."""
        return self._call("POST", "oauth/code", kw)

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> dict:
        return self._call("POST", "oauth/clients", {"clientId": client_id, "clientSecret": client_secret,
                                                     "redirectUris": redirect_uris})

    def request_log(self, **filters) -> list[dict]:
        """Filters: method, path, path_prefix, status, location_id, company_id, client_id, grant_type, since."""
        return self._call("GET", "requests", params=filters)["requests"]

    def clear_request_log(self) -> dict:
        return self._call("DELETE", "requests")

    def webhook_deliveries(self, **filters) -> list[dict]:
        """Filters: type, webhook_id, location_id, url, status, outcome, attempt, since."""
        return self._call("GET", "webhooks/deliveries", params=filters)["deliveries"]

    def wait_webhooks(self, timeout: float = 10) -> bool:
        return self._call("POST", "webhooks/wait", {"timeout": timeout})["idle"]

    def install(self, **kw) -> dict:
        return self._call("POST", "install", kw)

    def uninstall(self, **kw) -> dict:
        return self._call("POST", "uninstall", kw)

    def objects(self, kind: str, id: str | None = None, location_id: str | None = None):
        if id:
            return self._call("GET", f"objects/{kind}/{id}")
        return self._call("GET", f"objects/{kind}", params={"locationId": location_id} if location_id else None)[
            "items"]

    def public_keys(self) -> dict:
        return self._call("GET", "keys")


class SandboxProcess:
    """The sandbox as a child process on a free loopback port. Usable as a context manager."""

    def __init__(self, *, state: str | Path | None = None, port: int = 0, seed: str | None = None,
                 webhook_urls: list[str] | tuple = (), token_ttl: int | None = None, startup_timeout: float = 30):
        self._tmpdir = None
        if state is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="ghl-sandbox-")
            state = Path(self._tmpdir.name) / "state.sqlite3"
        self.state = str(state)
        self.port = port
        self.seed_name = seed
        self.webhook_urls = list(webhook_urls)
        self.token_ttl = token_ttl
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.base_url = ""
        self.control = SandboxControl(self)
        self.session = requests.Session()
        self.session.trust_env = False

    def start(self) -> "SandboxProcess":
        cmd = [sys.executable, str(REPO_ROOT / "manage.py"), "ghl_sandbox", "--port", str(self.port),
               "--state", self.state]
        if self.seed_name:
            cmd += ["--seed", self.seed_name]
        for url in self.webhook_urls:
            cmd += ["--webhook-url", url]
        if self.token_ttl is not None:
            cmd += ["--token-ttl", str(self.token_ttl)]
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        Path(self.state).parent.mkdir(parents=True, exist_ok=True)
        self._stderr = open(self.state + ".log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,  # noqa: S603
                                     stderr=self._stderr, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"sandbox did not start in {self.startup_timeout}s; see {self.state}.log")
            if line is None:
                raise RuntimeError(f"sandbox exited with {self.proc.wait()}; see {self.state}.log")
            if line.startswith(READY_LINE):
                self.base_url = line[len(READY_LINE):].strip()
                self.port = int(self.base_url.rsplit(":", 1)[1])
                return self

    @staticmethod
    def _pump(stream, lines: queue.Queue) -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self._stderr.close()
        self.proc = None

    def restart(self) -> "SandboxProcess":
        """Stop and start again on the same port with the same state file."""
        self.stop()
        self.seed_name = None
        return self.start()

    def close(self) -> None:
        self.stop()
        if self._tmpdir:
            self._tmpdir.cleanup()

    def __enter__(self) -> "SandboxProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- tokens without a browser ----------------------------------------------------------------
    def exchange_code(self, code: str, **extra) -> dict:
        data = {"client_id": c.SANDBOX_CLIENT_ID, "client_secret": c.SANDBOX_CLIENT_SECRET,
                "grant_type": "authorization_code", "code": code, **extra}
        resp = self.session.post(f"{self.base_url}/oauth/token", data=data, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def refresh(self, refresh_token: str) -> requests.Response:
        data = {"client_id": c.SANDBOX_CLIENT_ID, "client_secret": c.SANDBOX_CLIENT_SECRET,
                "grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.session.post(f"{self.base_url}/oauth/token", data=data, timeout=30)

    def location_token(self, location_id: str = c.DEMO_LOCATION_ID, scope: str | None = None) -> dict:
        """The `/oauth/token` response for a Location token (code issued by the control API)."""
        code = self.control.issue_code(locationId=location_id, **({"scope": scope} if scope else {}))["code"]
        return self.exchange_code(code)

    def company_token(self, company_id: str = c.DEMO_COMPANY_ID, scope: str | None = None) -> dict:
        code = self.control.issue_code(companyId=company_id, **({"scope": scope} if scope else {}))["code"]
        return self.exchange_code(code)


class WebhookReceiver:
    """A loopback HTTP endpoint that records every POST (raw body + headers).

    `statuses` is a list of status codes answered in order (then 200), e.g. [429, 429] or [500];
    `delay_s` makes every answer that slow (to provoke the sender's timeout).
    """

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0):
        self.received: list[dict] = []
        self.statuses = list(statuses or [])
        self.delay_s = delay_s
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.received.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()},
                                              "json": json.loads(body), "status": status, "t": time.time()})
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/ghl"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self, type_: str | None = None) -> list[dict]:
        with self.lock:
            return [r["json"] for r in self.received if type_ is None or r["json"].get("type") == type_]

    def wait_for(self, count: int, timeout: float = 10, type_: str | None = None) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events(type_)
            if len(events) >= count:
                return events
            time.sleep(0.02)
        return self.events(type_)
