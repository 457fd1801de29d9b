"""A log line says what happened and to whom: the call's `extra` context is on the line (web, worker, beat)."""
import logging
import os
import subprocess
import sys
from pathlib import Path

from config.logging import ContextFormatter

ROOT = Path(__file__).resolve().parents[2]


def _record(msg="ghl.sync.pull.enqueue-failed", exc_info=None, **extra):
    record = logging.LogRecord("ghl_integration.contacts.tasks", logging.WARNING, __file__, 1, msg, None, exc_info)
    record.__dict__.update(extra)
    return record


def test_the_context_follows_the_event_name_as_key_value_pairs():
    line = ContextFormatter("%(levelname)s %(name)s %(message)s").format(
        _record(connection_id=3, error="ConnectionError: Error 111 connecting", fields=["first_name"]))
    assert line == ('WARNING ghl_integration.contacts.tasks ghl.sync.pull.enqueue-failed connection_id=3 '
                    'error="ConnectionError: Error 111 connecting" fields=["first_name"]')


def test_a_line_without_context_is_unchanged_and_a_traceback_comes_after_the_context():
    formatter = ContextFormatter("%(message)s")
    assert formatter.format(_record("plain event")) == "plain event"
    try:
        raise ValueError("boom")
    except ValueError:
        line = formatter.format(_record(exc_info=sys.exc_info(), run_id=7))
    first, *rest = line.splitlines()
    assert first == "ghl.sync.pull.enqueue-failed run_id=7"
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: boom"


def test_the_web_process_logs_with_context(settings):
    assert settings.LOGGING["formatters"]["plain"]["()"] == "config.logging.ContextFormatter"
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    assert any(isinstance(h.formatter, ContextFormatter) for h in handlers)


def test_a_celery_process_keeps_the_context_when_it_takes_over_the_root_logger():
    # Celery replaces the root handlers in a worker or beat; its format stays, the context is added.
    code = ("from config.celery import app; app.log.setup_logging_subsystem(loglevel='INFO', colorize=False); "
            "import logging; logging.getLogger('crm.sync.outbox').warning("
            "'crm.sync.outbox.notify-failed', extra={'account_id': 'loc1', 'error': 'OperationalError: down'})")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.test")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True)
    line = [x for x in out.stderr.splitlines() if "notify-failed" in x]
    assert len(line) == 1, out.stderr
    assert line[0].startswith("[") and "WARNING/MainProcess]" in line[0]  # Celery's own format
    assert line[0].endswith('crm.sync.outbox.notify-failed account_id=loc1 error="OperationalError: down"')
