"""A local OpenAI-compatible chat-completions (and transcription) server over HTTP, scripted by rules.

A rule is a regular expression on the run's user message and a function `(match, conversation) -> reply`; the
function reads what the tools answered so far (`conversation.results`) and returns the next turn: `call(name,
**arguments)` (one or more tool calls), `say(text)`, or `raw(message)` (anything, e.g. a malformed call).
Faults: `delay_s` (a slow model), `fail_next(status, n)` (429/5xx before answering), `stop()` (down).
Used by the runner's tests and by `bench/agent_runner.py`; the real `openai` client talks to it.
"""
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Conversation:
    messages: list[dict]

    @property
    def user(self) -> str:
        return next((m.get("content") or "" for m in self.messages if m.get("role") == "user"), "")

    @property
    def system(self) -> str:
        return next((m.get("content") or "" for m in self.messages if m.get("role") == "system"), "")

    @property
    def results(self) -> list[tuple[str, dict]]:
        """(tool name, the envelope it answered) for every tool answer so far, in order."""
        names = {}
        for m in self.messages:
            for c in m.get("tool_calls") or []:
                names[c["id"]] = c["function"]["name"]
        out = []
        for m in self.messages:
            if m.get("role") == "tool":
                try:
                    envelope = json.loads(m.get("content") or "{}")
                except ValueError:
                    envelope = {"raw": m.get("content")}
                out.append((names.get(m.get("tool_call_id"), "?"), envelope))
        return out

    def last(self, tool: str | None = None) -> dict | None:
        found = [env for name, env in self.results if tool is None or name == tool]
        return found[-1] if found else None

    @property
    def turn(self) -> int:
        return sum(1 for m in self.messages if m.get("role") == "assistant")


def call(name: str, **arguments) -> dict:
    return {"tool_calls": [(name, arguments)]}


def calls(*pairs: tuple[str, dict]) -> dict:
    return {"tool_calls": list(pairs)}


def say(text: str) -> dict:
    return {"content": text}


def raw(message: dict) -> dict:
    return {"raw": message}


@dataclass
class FakeModel:
    rules: list[tuple[re.Pattern, Callable]] = field(default_factory=list)
    delay_s: float = 0.0
    requests: list[dict] = field(default_factory=list)
    transcripts: dict[str, str] = field(default_factory=dict)  # audio sha256 -> text (the transcription fake)
    transcription_requests: list[dict] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rule(self, pattern: str):
        def register(fn):
            self.rules.append((re.compile(pattern, re.I), fn))
            return fn
        return register

    def fail_next(self, status: int, times: int = 1) -> None:
        self._failures.extend([status] * times)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FakeModel":
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- answering --------------------------------------------------------------------------------------------
    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def answer(self, body: dict) -> tuple[int, dict]:
        self.requests.append(body)
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            status = self._failures.pop(0) if self._failures else None
        if status:
            return status, {"error": {"message": f"scripted failure {status}", "type": "server_error"}}
        conversation = Conversation(body.get("messages") or [])
        for pattern, fn in self.rules:
            match = pattern.search(conversation.user)
            if match:
                try:
                    reply = fn(match, conversation)
                except Exception as exc:  # a script bug: say so in the answer rather than drop the connection
                    reply = say(f"fake model rule failed: {type(exc).__name__}: {exc}; tools answered "
                                f"{conversation.results}")
                break
        else:
            reply = say(f"I have no rule for: {conversation.user}")
        return 200, self._completion(body, reply)

    def _completion(self, body: dict, reply: dict) -> dict:
        n = self._next_id()
        if "raw" in reply:
            message = reply["raw"]
        elif "tool_calls" in reply:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{n}_{i}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(arguments)}}
                for i, (name, arguments) in enumerate(reply["tool_calls"])]}
        else:
            message = {"role": "assistant", "content": reply["content"]}
        prompt = sum(len(str(m.get("content") or "").split()) for m in body.get("messages") or [])
        return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": 7, "total_tokens": prompt + 7}}


def _handler(model: FakeModel):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length)
            if self.path.endswith("/chat/completions"):
                status, body = model.answer(json.loads(payload or b"{}"))
                try:
                    self._send(status, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
            elif self.path.endswith("/audio/transcriptions"):
                from tests.agents.fake_transcriber import answer_transcription

                status, body = answer_transcription(model, self.headers, payload)
                self._send(status, body)
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

    return Handler
