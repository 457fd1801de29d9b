"""`make run`'s process runner (config/devrun.py): Ctrl-C stops every process cleanly, a worker by warm shutdown."""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from config.devrun import parse_procfile

ROOT = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(procfile: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "config.devrun", "-f", str(procfile), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _read_until(runner: subprocess.Popen, text: str, timeout: float) -> str:
    """The runner's output up to the first line holding `text`: its children run, so its signal handlers are set
    (a fixed sleep is not enough on a loaded machine, where a SIGINT before them kills the runner outright)."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for raw in iter(runner.stdout.readline, b""):
            seen.append(raw.decode(errors="replace"))
            if text in seen[-1]:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not found.wait(timeout):
        os.killpg(runner.pid, signal.SIGKILL)
        pytest.fail(f"no line with {text!r} within {timeout} s:\n{''.join(seen)}")
    return "".join(seen)


def _output(runner: subprocess.Popen, timeout: float, before: str = "") -> tuple[int, str]:
    try:
        out, _ = runner.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(runner.pid, signal.SIGKILL)
        out, _ = runner.communicate()
        pytest.fail(f"the runner did not stop within {timeout} s:\n{out.decode(errors='replace')}")
    return runner.returncode, before + out.decode(errors="replace")


def test_the_procfile_parser_skips_comments_and_refuses_a_malformed_line():
    assert [(e.name, e.command) for e in parse_procfile("# c\n\nweb: run --x=1: y\n")] == [("web", "run --x=1: y")]
    with pytest.raises(ValueError, match="line 2"):
        parse_procfile("web: ok\nno colon here\n")


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.slow
@pytest.mark.skipif(settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
                    reason="the processes need a shared database (the test's SQLite one is in memory)")
@pytest.mark.django_db(transaction=True)
def test_ctrl_c_stops_the_web_and_a_worker_cleanly(tmp_path):
    # given the Procfile's own web and worker (the worker on a private queue), serving
    lines = {e.name: e.command for e in parse_procfile((ROOT / "Procfile").read_text())}
    queue = f"devrun-{os.getpid()}-{time.monotonic_ns()}"
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"web: {lines['web']}\nworker: {lines['worker'].replace('-Q default', f'-Q {queue}')}\n")
    port = _free_port()
    env = dict(os.environ, WEB_PORT=str(port), DEBUG="1", DATABASE_URL=_database_url(),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    runner = _start(procfile, env)
    lines_out: list[str] = []
    reader = threading.Thread(target=lambda: lines_out.extend(
        line.decode(errors="replace") for line in iter(runner.stdout.readline, b"")), daemon=True)
    reader.start()

    def web_up() -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        assert _wait_for(web_up, 60), "the web process never answered 200:\n" + "".join(lines_out)
        assert _wait_for(lambda: any(" ready." in line for line in lines_out), 60), "".join(lines_out)
        from celery import Celery

        # not set as current: the suite's own app stays the one shared tasks resolve to
        sender = Celery(broker=os.environ["CELERY_BROKER_URL"], set_as_current=False)
        sender.send_task("agentlevel.ping", args=["hi"], queue=queue)
        assert _wait_for(lambda: any("agentlevel.ping" in line and "succeeded" in line for line in lines_out), 30)

        # when the owner presses Ctrl-C
        os.kill(runner.pid, signal.SIGINT)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
        reader.join(timeout=5)
    out = "".join(lines_out)

    # then every process stops by itself: the worker by warm shutdown, nothing killed, no traceback
    assert runner.returncode == 0, out
    assert "worker: Warm shutdown" in out, out
    assert "web stopped" in out and "worker stopped" in out, out
    assert "killing" not in out and "exited with 'signal" not in out and "Traceback" not in out, out


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace_and_named(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("stubborn: sh -c 'trap \"\" TERM; echo up; while :; do sleep 0.1; done'\n"
                        "polite: sleep 60\n")
    runner = _start(procfile, dict(os.environ), "--grace", "1")
    before = _read_until(runner, "stubborn | up", 30)
    os.kill(runner.pid, signal.SIGINT)
    rc, out = _output(runner, 20, before)

    assert rc == 1
    assert "polite stopped" in out
    assert "stubborn still running 1 s after SIGTERM: killing it" in out


def test_a_second_ctrl_c_kills_at_once(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("stubborn: sh -c 'trap \"\" TERM; echo up; while :; do sleep 0.1; done'\n")
    runner = _start(procfile, dict(os.environ), "--grace", "60")
    before = _read_until(runner, "stubborn | up", 30)
    os.kill(runner.pid, signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    os.kill(runner.pid, signal.SIGINT)
    rc, out = _output(runner, 20, before)

    assert time.monotonic() - started < 5
    assert rc == 1 and "stubborn asked to stop again: killing it" in out


def test_a_process_that_ends_on_its_own_stops_the_others(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("broken: sh -c 'echo cannot start; exit 3'\nweb: sleep 60\n")
    runner = _start(procfile, dict(os.environ))
    rc, out = _output(runner, 20)

    assert rc == 1
    assert "broken | cannot start" in out
    assert "broken exited (rc=3)" in out and "broken ended, so the others are stopped too" in out
    assert "web stopped" in out


def test_an_unknown_process_name_is_refused(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("web: sleep 1\n")
    rc, out = _output(_start(procfile, dict(os.environ), "wbe"), 10)

    assert rc == 2 and "not in" in out and "wbe" in out
