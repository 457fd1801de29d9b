"""The production gunicorn configuration loads and applies its GIL switch interval in each worker."""

import runpy
import sys
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


def test_post_fork_shortens_the_gil_switch_interval(monkeypatch):
    monkeypatch.setenv("GUNICORN_GIL_SWITCH_INTERVAL_S", "0.002")
    conf = runpy.run_path(str(CONF))
    before = sys.getswitchinterval()
    try:
        conf["post_fork"](server=None, worker=None)
        assert sys.getswitchinterval() == 0.002
    finally:
        sys.setswitchinterval(before)
