"""The production gunicorn configuration loads, takes overrides from the environment, and changes no
interpreter state."""

import runpy
from pathlib import Path

from django.conf import settings

CONF = Path(settings.BASE_DIR) / "config" / "gunicorn.conf.py"


def test_defaults_and_environment_overrides(monkeypatch):
    defaults = runpy.run_path(str(CONF))
    assert (defaults["worker_class"], defaults["workers"], defaults["threads"]) == ("gthread", 2, 8)
    assert defaults["keepalive"] > 0

    monkeypatch.setenv("GUNICORN_WORKERS", "3")
    monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:9000")
    assert runpy.run_path(str(CONF))["workers"] == 3
    assert runpy.run_path(str(CONF))["bind"] == "127.0.0.1:9000"


def test_no_hook_changes_interpreter_state():
    # Process-wide switches (the GIL switch interval) are no configuration's business: nothing runs after fork.
    conf = runpy.run_path(str(CONF))
    assert not {"post_fork", "post_worker_init", "pre_fork", "on_starting"} & set(conf)
