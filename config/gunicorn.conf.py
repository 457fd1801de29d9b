"""Production gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Threads (gthread) rather than more processes: a request spends much of its time waiting on PostgreSQL and
Redis, and threads share one process's memory. Every value can be overridden from the environment.
"""

import os
import sys

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# GHL and browsers keep connections open; closing them after each request costs a TCP handshake per webhook.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None

# How long a thread may hold the GIL while others wait (CPython's default is 5 ms). Our requests are short
# and mostly wait on I/O; a shorter interval lets a thread whose database answer arrived resume sooner, which
# shortens the latency tail under load (webhook acknowledgements) for a little throughput.
GIL_SWITCH_INTERVAL_S = float(os.environ.get("GUNICORN_GIL_SWITCH_INTERVAL_S", "0.001"))


def post_fork(server, worker):
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
