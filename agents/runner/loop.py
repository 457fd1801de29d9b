"""The tool-calling loop: instruction → model → tool calls through the dispatcher (surface `runner`) → model → …

Bounded by MAX_STEPS model turns and RUN_TIMEOUT_S of wall time. Every model turn and tool call is recorded as
an `AgentRunStep` as it happens. A turn whose tool calls cannot be read (arguments that are not a JSON object,
a tool the agent does not have) fails the run before any of that turn's calls runs; a turn with a call whose
input does not fit the tool's schema runs none of its calls and tells the model why, so it can fix them.
"""
import json
import logging
import re
import time
from typing import Any

from django.utils import timezone

from ..models import Agent
from ..tools.dispatch import redact, tool_call, validation_error
from ..tools.errors import ToolError, envelope_error
from ..tools.registry import registry
from .context import system_prompt
from .model_client import NOT_CONFIGURED, ModelUnavailable, chat, model_config_for
from .models import AgentRun, AgentRunStep

logger = logging.getLogger(__name__)

MAX_STEPS = 8
RUN_TIMEOUT_S = 180.0
# A tool's answer is cut to this many characters before the model reads it (the step keeps all of it).
TOOL_RESULT_MAX_CHARS = 12000
# Less time than this left in the run is not worth a model call.
MIN_CALL_S = 0.1
# A file's bytes inside arguments that cannot be read as JSON (kept out of the run's steps).
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")


class RunFailed(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Recorder:
    """Writes the steps of one run in order and keeps its counters."""

    def __init__(self, run: AgentRun):
        self.run, self.index = run, run.steps.count()

    def step(self, **fields: Any) -> AgentRunStep:
        # The run's record is shown like the audit: what the model wrote or sent a tool, secrets redacted.
        # A file the model sent a tool (send_message's attachments) is kept as its name, size and SHA-256.
        if "requested_calls" in fields:
            fields["requested_calls"] = [_recorded_call(c) for c in fields["requested_calls"]]
        for name in ("content", "arguments", "result"):
            if name in fields:
                fields[name] = redact(fields[name])
        step = AgentRunStep.objects.create(organization_id=self.run.organization_id, run=self.run,
                                           index=self.index, **fields)
        self.index += 1
        return step


def _recorded_call(call: dict[str, Any]) -> dict[str, Any]:
    """A tool call the model asked for, as its step keeps it: the arguments (a JSON text, as sent) redacted like
    the audit; arguments that are not a JSON object lose any long base64-like run (a file's bytes) instead."""
    arguments = call.get("arguments")
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        arguments = json.dumps(redact(parsed), ensure_ascii=False)
    elif isinstance(arguments, str):
        arguments = BASE64_RUN.sub(lambda m: f"[{len(m.group())} characters of base64: not kept]", redact(arguments))
    return {**redact({k: v for k, v in call.items() if k != "arguments"}), "arguments": arguments}


def agent_run_execute(*, run_id: int) -> AgentRun | None:
    """Run a queued run to its end (once: a run already claimed by another worker is left alone)."""
    claimed = AgentRun.objects.filter(pk=run_id, status=AgentRun.Status.QUEUED).update(
        status=AgentRun.Status.RUNNING, started_at=timezone.now())
    run = AgentRun.objects.select_related("agent", "organization").filter(pk=run_id).first()
    if run is None or not claimed:
        logger.info("agents.runner.not-queued", extra={"run_id": run_id})
        return run
    started = time.perf_counter()
    recorder = _Recorder(run)
    status, reason, reply = AgentRun.Status.SUCCEEDED, "", ""
    try:
        reply = _loop(run, recorder, deadline=time.monotonic() + RUN_TIMEOUT_S)
    except RunFailed as exc:
        status, reason = AgentRun.Status.FAILED, exc.reason
    except Exception:  # a bug: the run says so rather than staying "running"
        logger.exception("agents.runner.error", extra={"run_id": run.pk})
        status, reason = AgentRun.Status.FAILED, "The runner failed unexpectedly (logged); see the steps for what ran."
    if status == AgentRun.Status.FAILED:
        logger.warning("agents.runner.failed", extra={"run_id": run.pk, "reason": reason})
    _finish(run, status=status, reason=reason, reply=reply, duration_ms=(time.perf_counter() - started) * 1000)
    return run


def _finish(run: AgentRun, *, status: str, reason: str, reply: str, duration_ms: float) -> None:
    totals = {"model_calls": 0, "tool_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for step in run.steps.all().only("kind", "prompt_tokens", "completion_tokens"):
        totals["model_calls" if step.kind == AgentRunStep.Kind.MODEL else "tool_calls"] += 1
        totals["prompt_tokens"] += step.prompt_tokens
        totals["completion_tokens"] += step.completion_tokens
    fields = {"status": status, "failure_reason": reason, "reply": reply, "finished_at": timezone.now(),
              "duration_ms": duration_ms, **totals}
    AgentRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)


def _loop(run: AgentRun, recorder: _Recorder, *, deadline: float) -> str:
    agent: Agent = run.agent
    config = model_config_for(agent)
    if config is None:
        raise RunFailed(NOT_CONFIGURED)
    AgentRun.objects.filter(pk=run.pk).update(model=config.model)
    tools = registry.all(families=list(agent.enabled_families or []))
    by_name = {t.name: t for t in tools}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_prompt(agent=agent, organization=run.organization)},
        {"role": "user", "content": run.instruction},
    ]
    for _ in range(MAX_STEPS):
        if deadline - time.monotonic() < MIN_CALL_S:
            raise RunFailed(f"The run took longer than {RUN_TIMEOUT_S:g} s.{_done_so_far(recorder)}")
        try:
            answer = chat(config, messages=messages, tools=[t.function_spec() for t in tools], deadline=deadline)
        except ModelUnavailable as exc:
            raise RunFailed(f"The model gave no answer: {exc.reason}.{_done_so_far(recorder)}")
        message = answer.message
        requested = [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
                     for c in (message.tool_calls or []) if getattr(c, "function", None) is not None]
        recorder.step(kind=AgentRunStep.Kind.MODEL, content=message.content or "", requested_calls=requested,
                      prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                      latency_ms=answer.latency_ms)
        if not requested:
            return (message.content or "").strip()
        parsed = _parse_calls(requested, by_name)
        messages.append({"role": "assistant", "content": message.content or None,
                         "tool_calls": [{"id": c["id"], "type": "function",
                                         "function": {"name": c["name"], "arguments": c["arguments"]}}
                                        for c in requested]})
        for call_id, answer_text in _run_calls(run, recorder, parsed, by_name, deadline=deadline):
            messages.append({"role": "tool", "tool_call_id": call_id, "content": answer_text})
        if time.monotonic() >= deadline:
            raise RunFailed(f"The run took longer than {RUN_TIMEOUT_S:g} s.{_done_so_far(recorder)}")
    raise RunFailed(f"The model did not finish within {MAX_STEPS} steps.{_done_so_far(recorder)}")


def _parse_calls(requested: list[dict], by_name: dict) -> list[tuple[str, str, dict]]:
    """(id, name, arguments) of every call, or RunFailed naming the first that cannot be read."""
    parsed = []
    for call in requested:
        name = call["name"]
        if name not in by_name:
            raise RunFailed(f"The model asked for a tool the agent does not have ({name!r}); no tool of that turn "
                            f"was run. The agent's tools: {', '.join(sorted(by_name)) or 'none'}.")
        try:
            arguments = json.loads(call["arguments"] or "{}")
        except (TypeError, ValueError) as exc:
            raise RunFailed(f"The model's call of {name} had arguments that are not valid JSON ({exc}); no tool of "
                            "that turn was run.")
        if not isinstance(arguments, dict):
            raise RunFailed(f"The model's call of {name} had arguments that are not a JSON object; no tool of that "
                            "turn was run.")
        parsed.append((call["id"] or f"call_{len(parsed)}", name, arguments))
    return parsed


def _run_calls(run: AgentRun, recorder: _Recorder, parsed, by_name, *, deadline: float):
    """Yield (call id, the answer the model reads) for each call, running them only if all of them fit."""
    invalid = {call_id for call_id, name, arguments in parsed if validation_error(by_name[name], arguments)}
    if invalid:
        for call_id, name, arguments in parsed:
            if call_id in invalid:  # the dispatcher answers (and audits) the invalid input; nothing runs
                envelope = tool_call(agent=run.agent, tool_name=name, arguments=arguments, surface="runner",
                                     run_id=run.pk)
            else:
                envelope = envelope_error(ToolError("invalid", "Not run: another call of this turn had an invalid "
                                                    "input, so none of them ran.", hint="Fix that call and send "
                                                    "this one again with it."))
            recorder.step(kind=AgentRunStep.Kind.TOOL, tool=name, call_id=call_id, arguments=arguments,
                          result=envelope, ok=False)
            yield call_id, json.dumps(envelope, default=str)
        return
    for call_id, name, arguments in parsed:
        if time.monotonic() >= deadline:
            raise RunFailed(f"The run took longer than {RUN_TIMEOUT_S:g} s before {name} could run."
                            f"{_done_so_far(recorder)}")
        started = time.perf_counter()
        # A write is keyed by the run and the call: a repeated call of the same turn is not done twice.
        idem = f"run-{run.pk}-{call_id}"[:255] if by_name[name].writes else None
        envelope = tool_call(agent=run.agent, tool_name=name, arguments=arguments, surface="runner",
                             idempotency_key=idem, run_id=run.pk)
        recorder.step(kind=AgentRunStep.Kind.TOOL, tool=name, call_id=call_id, arguments=arguments,
                      result=envelope, ok=bool(envelope.get("ok")), latency_ms=(time.perf_counter() - started) * 1000)
        text = json.dumps(envelope, default=str)
        if len(text) > TOOL_RESULT_MAX_CHARS:
            text = text[:TOOL_RESULT_MAX_CHARS] + " …(cut; ask for less)"
        yield call_id, text


def _done_so_far(recorder: _Recorder) -> str:
    done = list(recorder.run.steps.filter(kind=AgentRunStep.Kind.TOOL, ok=True).values_list("tool", flat=True))
    return f" Tools that had already run: {', '.join(done)}." if done else " No tool had run."
