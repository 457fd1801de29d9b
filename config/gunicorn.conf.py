"""Production gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Threads (gthread) rather than more processes: a request spends much of its time waiting on PostgreSQL and
Redis, and threads share one process's memory. Every value can be overridden from the environment.
"""

import os

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
