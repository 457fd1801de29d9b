"""Log lines that carry their context.

Product code logs an event name with its context as ``extra`` (``logger.warning("ghl.sync.pull.enqueue-failed",
extra={"connection_id": 3, "error": "..."})``); the standard formatter drops the extra fields, so a line said
what happened but not to whom or why. `ContextFormatter` appends them to the line as ``key=value`` pairs (a
value with spaces or quotes JSON-quoted), before any traceback. What goes into ``extra`` is chosen by the code
that logs (ids, names, error messages): never a token, key or secret.
"""
import json
import logging

# The attributes every LogRecord has (and those formatting adds); anything else came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _text(value) -> str:
    if isinstance(value, str):
        return value if value and not any(c in value for c in " \"'=\n\t") else json.dumps(value)
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        return json.dumps(str(value))


class ContextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        line = super().formatMessage(record)
        context = [f"{key}={_text(value)}" for key, value in record.__dict__.items()
                   if key not in _RECORD_ATTRIBUTES and not key.startswith("_")]
        return f"{line} {' '.join(context)}" if context else line


def celery_root_handlers_show_context(logger: logging.Logger, **kwargs) -> None:
    """`after_setup_logger` receiver: the worker's and beat's own root handlers (Celery replaces Django's) keep
    Celery's line format and gain the context."""
    for handler in logger.handlers:
        fmt = getattr(handler.formatter, "_fmt", None)
        handler.setFormatter(ContextFormatter(fmt))
