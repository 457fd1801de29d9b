import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}}
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


def test_check_deploy_is_clean_with_debug_off_and_secrets_set():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY="k" * 20 + "Z9-production-like-secret-key-value-xyz",
        FIELD_ENCRYPTION_KEYS="salt-1,salt-0",
        ALLOWED_HOSTS="agentlevel.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_development_runs_with_no_configuration_at_all():
    result = _manage("check", DEBUG="1")
    assert result.returncode == 0, result.stderr
