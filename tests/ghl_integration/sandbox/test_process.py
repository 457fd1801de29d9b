import time

import requests

from ghl_sandbox import constants as c
from ghl_sandbox.testing import SandboxProcess


def test_state_survives_a_restart_and_seeding_is_fast(tmp_path):
    with SandboxProcess(state=tmp_path / "state.sqlite3", seed="demo") as sbx:
        # given
        started = time.monotonic()
        seeded = sbx.control.seed(name="Big Clinic", contacts=30000)
        seed_seconds = time.monotonic() - started
        tokens = sbx.location_token(c.DEMO_LOCATION_ID)
        headers = {"Authorization": f"Bearer {tokens['access_token']}", "Version": c.VERSION_2021_07_28}
        created = sbx.session.post(f"{sbx.base_url}/contacts/", headers=headers,
                                   json={"locationId": c.DEMO_LOCATION_ID, "firstName": "Persist"}).json()
        sbx.control.config(token_ttl=1234)
        old_url = sbx.base_url

        # when
        sbx.restart()

        # then
        assert sbx.base_url == old_url
        got = sbx.session.get(f"{sbx.base_url}/contacts/{created['contact']['id']}", headers=headers)
        assert got.status_code == 200 and got.json()["contact"]["firstName"] == "Persist"
        assert sbx.control.config()["token_ttl"] == 1234
        assert sbx.refresh(tokens["refresh_token"]).status_code == 200
        big = sbx.location_token(seeded["locationId"])["access_token"]
        total = sbx.session.post(f"{sbx.base_url}/contacts/search",
                                 headers={"Authorization": f"Bearer {big}", "Version": c.VERSION_2021_07_28},
                                 json={"locationId": seeded["locationId"], "pageLimit": 100, "page": 50}).json()
        assert total["total"] == 30000 and len(total["contacts"]) == 100
    assert seed_seconds < 20
    try:
        requests.get(old_url + "/_sandbox/health", timeout=1)
        raise AssertionError("sandbox still answering after close")
    except requests.ConnectionError:
        pass


def test_print_public_keys(tmp_path):
    import subprocess
    import sys

    from ghl_sandbox.testing import REPO_ROOT

    out = subprocess.run([sys.executable, "manage.py", "ghl_sandbox", "--print-public-keys"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True,
                         env={"DJANGO_SETTINGS_MODULE": "config.settings.test", "PATH": ""}).stdout
    assert out.count("-----BEGIN PUBLIC KEY-----") == 2
    assert (REPO_ROOT / "ghl_sandbox/dev_keys/ed25519_public.pem").read_text().strip() in out


def test_command_line_settings_apply_and_survive_reset(tmp_path):
    with SandboxProcess(state=tmp_path / "sub" / "state.sqlite3", seed="demo", token_ttl=120,
                        webhook_urls=["http://127.0.0.1:9/hooks"]) as sbx:
        assert sbx.location_token()["expires_in"] == 120
        sbx.control.reset(seed="demo")
        assert sbx.control.config()["token_ttl"] == 120
        assert sbx.control.webhooks()["urls"] == ["http://127.0.0.1:9/hooks"]
