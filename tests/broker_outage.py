"""A broker outage for tests: the Celery app publishes to a port where Redis is gone (connections are refused)."""
import contextlib
import socket

from config.celery import app


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reset_pools() -> None:
    app._after_fork()  # drops the connection and producer pools, so the next publish connects anew


@contextlib.contextmanager
def broker_down():
    """Until the block ends, every publish from this process meets a broker that refuses connections."""
    saved = app.conf.broker_url, app.conf.broker_write_url
    app.conf.broker_url = app.conf.broker_write_url = f"redis://127.0.0.1:{_closed_port()}/0"
    _reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_write_url = saved
        _reset_pools()
