"""A real Celery worker process for tests that need one (consuming only its own queue)."""

import contextlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def celery_worker_process(*, env: dict, queue: str, output=subprocess.DEVNULL, app: str = "config"):
    """Run ``celery -A <app> worker`` (solo pool) on ``queue`` until the block ends; always stopped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", app, "worker", "--pool=solo", "--loglevel=WARNING", "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else output,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
