import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
           and not k.startswith("GHL_")}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_production_without_secrets_fails_with_a_clear_error():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY, FIELD_ENCRYPTION_KEYS must be set when DEBUG is off" in result.stderr


def test_production_refuses_the_development_secret():
    from config.settings import base

    result = _manage("check", DEBUG="0", SECRET_KEY=base._DEV_SECRET_KEY, FIELD_ENCRYPTION_KEYS="x")
    assert result.returncode != 0
    assert "development SECRET_KEY" in result.stderr


PRODUCTION = {
    "DEBUG": "0", "SECRET_KEY": "k" * 20 + "Z9-production-like-secret-key-value-xyz",
    "FIELD_ENCRYPTION_KEYS": "salt-1,salt-0", "ALLOWED_HOSTS": "agentlevel.example.com",
    "GHL_CLIENT_ID": "64f0realapp-lx2k9", "GHL_CLIENT_SECRET": "real-secret",
    "GHL_REDIRECT_URI": "https://agentlevel.example.com/integrations/ghl/oauth/callback/",
}


def test_check_deploy_is_clean_with_debug_off_and_secrets_set():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_runs_with_no_configuration_at_all():
    result = _manage("check", DEBUG="1")
    assert result.returncode == 0, result.stderr


def test_production_without_ghl_app_credentials_fails_clearly():
    env = {k: v for k, v in PRODUCTION.items() if not k.startswith("GHL_")}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "GHL_CLIENT_ID, GHL_CLIENT_SECRET, GHL_REDIRECT_URI must be set" in result.stderr


def test_production_refuses_to_point_at_the_sandbox():
    result = _manage("check", **dict(PRODUCTION, GHL_API_BASE_URL="http://127.0.0.1:8100"))
    assert result.returncode != 0
    assert "GHL_API_BASE_URL point at the local GHL sandbox" in result.stderr
    result = _manage("check", **dict(PRODUCTION, GHL_CLIENT_ID="sandboxapp-0001"))
    assert "GHL_CLIENT_ID point at the local GHL sandbox" in result.stderr


def test_production_defaults_to_the_real_ghl():
    code = "from django.conf import settings as s; print(s.GHL_API_BASE_URL, s.GHL_AUTHORIZE_URL)"
    result = _manage("shell", "-v", "0", "-c", code, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "https://services.leadconnectorhq.com", "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"]
