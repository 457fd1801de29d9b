"""Run the Procfile's processes for `make run`, and stop every one of them cleanly on Ctrl-C.

Why not honcho: on Ctrl-C it sends SIGTERM to each process *group*, so a Celery worker's pool children die
under the task they run ("Process 'ForkPoolWorker-1' exited with signal 15"), and it SIGKILLs whatever is still
up 5 s later, which a worker's warm shutdown (finish the running task, then close the broker connection) often
needs longer than. Here each process runs in its own session and gets SIGTERM on its main process only: a worker
stops its own pool after its current task. A process that is still up after ``grace`` seconds (or on a second
Ctrl-C) is killed, and this says so.

    python -m config.devrun [-f Procfile] [--grace 30] [name ...]

Development only: production runs each process under its own supervisor (README "Production").
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

COLOURS = ("36", "33", "32", "35", "34", "31", "36;1", "33;1", "32;1", "35;1")


@dataclass
class Entry:
    name: str
    command: str


@dataclass
class Child:
    entry: Entry
    process: subprocess.Popen
    colour: str
    reader: threading.Thread | None = None
    reported: bool = False


def parse_procfile(text: str) -> list[Entry]:
    """``name: command`` lines; blank lines and ``#`` comments are skipped, a malformed line is an error."""
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip() or " " in name.strip():
            raise ValueError(f"Procfile line {number} is not `name: command`: {line!r}")
        entries.append(Entry(name.strip(), command.strip()))
    return entries


@dataclass
class Runner:
    entries: list[Entry]
    grace: float = 30.0
    out: object = sys.stdout
    colour: bool = False
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop_requests: int = 0

    def _width(self) -> int:
        return max([len(e.name) for e in self.entries] + [len("system")])

    def say(self, name: str, text: str, colour: str = "") -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name.ljust(self._width())} |"
        if self.colour and colour:
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self._lock:
            self.out.write(f"{prefix} {text}\n")
            self.out.flush()

    def _pump(self, child: Child) -> None:
        for raw in iter(child.process.stdout.readline, b""):
            self.say(child.entry.name, raw.decode(errors="replace").rstrip("\r\n"), child.colour)

    def start(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        for index, entry in enumerate(self.entries):
            # `exec`, so the pid we signal is the program itself, not a shell that would not pass SIGTERM on;
            # a session of its own, so the terminal's Ctrl-C reaches only this runner.
            # The command is the developer's own Procfile line, run as the shell would (variables, defaults).
            process = subprocess.Popen(  # noqa: S603
                ["/bin/sh", "-c", f"exec {entry.command}"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
            child = Child(entry, process, COLOURS[index % len(COLOURS)])
            child.reader = threading.Thread(target=self._pump, args=(child,), daemon=True)
            child.reader.start()
            self.children.append(child)
            self.say("system", f"{entry.name} started (pid {process.pid})")

    def request_stop(self, signum=None, frame=None) -> None:
        self._stop_requests += 1

    def _alive(self) -> list[Child]:
        return [c for c in self.children if c.process.poll() is None]

    def _report_exits(self, stopping: bool) -> list[Child]:
        """Say which processes ended; returns those that ended on their own (not asked to stop)."""
        failed = []
        for child in self.children:
            rc = child.process.poll()
            if rc is None or child.reported:
                continue
            child.reported = True
            if child.reader:
                child.reader.join(timeout=2)  # its last lines before the exit line
            clean = rc == 0 or (stopping and rc == -signal.SIGTERM)
            self.say("system", f"{child.entry.name} stopped" if clean else f"{child.entry.name} exited (rc={rc})")
            if not stopping:
                failed.append(child)
        return failed

    def _kill(self, children: list[Child], why: str) -> None:
        for child in children:
            self.say("system", f"{child.entry.name} {why}: killing it")
            try:
                os.killpg(child.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self) -> bool:
        """SIGTERM to each main process, wait up to ``grace``; True when every process stopped by itself."""
        alive = self._alive()
        if alive:
            self.say("system", f"stopping {len(alive)} processes (Ctrl-C again to kill them at once)")
        for child in alive:
            try:
                os.kill(child.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        requests_seen, deadline, clean = self._stop_requests, time.monotonic() + self.grace, True
        while self._alive():
            self._report_exits(stopping=True)
            if self._stop_requests > requests_seen:
                self._kill(self._alive(), "asked to stop again")
                clean = False
                break
            if time.monotonic() > deadline:
                self._kill(self._alive(), f"still running {self.grace:g} s after SIGTERM")
                clean = False
                break
            time.sleep(0.05)
        for child in self.children:
            child.process.wait()
        self._report_exits(stopping=True)
        return clean

    def run(self, env: dict[str, str] | None = None) -> int:
        """Start everything, wait for a stop request or for a process to end on its own, stop the rest."""
        self.start(env)
        failed: list[Child] = []
        while not self._stop_requests and not failed:
            failed = self._report_exits(stopping=False)
            time.sleep(0.1)
        if failed:
            self.say("system", f"{failed[0].entry.name} ended, so the others are stopped too")
        clean = self.stop()
        if failed:
            return 1
        return 0 if clean else 1


def _take_terminal() -> tuple[int, int] | None:
    """Become the terminal's foreground process group, so Ctrl-C reaches this runner and not `make` above it
    (which would print "make: *** Interrupt" and exit 2 after a clean stop). Returns what to give back."""
    try:
        tty = os.open("/dev/tty", os.O_RDWR)
    except OSError:
        return None
    try:
        before = os.tcgetpgrp(tty)
        if before != os.getpgrp():
            return None  # not in the foreground (run in the background): leave the terminal alone
        os.setpgid(0, 0)
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(tty, os.getpgrp())
        finally:
            signal.signal(signal.SIGTTOU, previous)
        return tty, before
    except OSError:
        os.close(tty)
        return None


def _give_terminal_back(taken: tuple[int, int] | None) -> None:
    if taken is None:
        return
    tty, before = taken
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(tty, before)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)
        os.close(tty)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-f", "--procfile", default="Procfile")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds a process may take to stop")
    parser.add_argument("names", nargs="*", help="only these processes (default: all)")
    args = parser.parse_args(argv)
    try:
        entries = parse_procfile(Path(args.procfile).read_text())
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"devrun: {exc}\n")
        return 2
    unknown = set(args.names) - {e.name for e in entries}
    if unknown:
        sys.stderr.write(f"devrun: not in {args.procfile}: {', '.join(sorted(unknown))}\n")
        return 2
    if args.names:
        entries = [e for e in entries if e.name in args.names]
    runner = Runner(entries, grace=args.grace, colour=sys.stdout.isatty())
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, runner.request_stop)
    taken = _take_terminal()
    try:
        return runner.run()
    finally:
        _give_terminal_back(taken)


if __name__ == "__main__":
    sys.exit(main())
