"""The one dispatcher every surface calls: REST, MCP and (later) the built-in runner.

    tool_call(*, agent=None, tool_name, arguments, surface, idempotency_key=None, api_key=None, client=None)
        -> envelope

Order: authenticate the key (an invalid one: limited per client address) → per-key rate limit (every call of the
key counts) → find the tool → the agent's enabled families → validate the input against the tool's schema →
idempotency (writes) → the write policy (writes) → run → audit.
The answer is always an envelope: `{"ok": true, "result": {...}}` or `{"ok": false, "error": {...}}`.
"""
import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from crm.events import agent_acting
from crm.remote_calls import RemoteUnavailable, remote_calls_collected, remote_calls_within
from crm.sync.outbox import outbox_caused_by, outbox_entries_recorded
from tenancy.models import Organization

from ..audit import tool_call_cause
from ..models import Agent, ApiKey, IdempotencyRecord
from ..services import api_key_authenticate, tool_call_record
from .errors import ToolError, envelope_error, envelope_ok
from .ratelimit import invalid_key_hit, rate_limit_hit
from .registry import Tool, registry

logger = logging.getLogger(__name__)

SURFACES = ("rest", "mcp", "runner")
SECRET_NAME = re.compile(r"(token|secret|password|passwd|api[_-]?key|authorization|credential)", re.I)
# Secrets inside any text of an input: our own API keys, a bearer credential, a JWT (GHL's OAuth access and refresh
# tokens are JWTs) and GHL's Private Integration Tokens (pit-<uuid>).
SECRET_VALUE = re.compile(
    r"\bal_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}"
    r"|(?<=Bearer )\s*[A-Za-z0-9._~+/=-]{8,}"
    r"|\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"
    r"|\bpit-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
    re.I,
)
REDACTED = "[redacted]"
# The key of a file's bytes in a tool input (send_message's attachments): kept out of the audit, summarised.
FILE_CONTENT = "content_base64"
# An invalid input's error quotes the offending value only up to this length.
MAX_ECHOED_CHARS = 300
# GHL requests a tool makes while its caller waits (free slots, a duplicate check, a booking) take this long in
# all; what does not fit answers `ghl_unavailable` (or, for a lookup that only helps, is skipped).
TOOL_REMOTE_SECONDS = 6.0
# A second call with the idempotency key of one still running waits this long for its answer (longer than a write's
# GHL requests and confirmation wait), polling; a claim older than IDEMPOTENCY_ABANDONED_SECONDS without an answer
# belongs to a call that died (its worker killed), and is taken over.
IDEMPOTENCY_WAIT_SECONDS = 15.0
IDEMPOTENCY_POLL_SECONDS = 0.1
IDEMPOTENCY_ABANDONED_SECONDS = 300


@dataclass
class ToolContext:
    """What a tool function gets besides its arguments."""

    organization: Organization
    agent: Agent
    surface: str
    dry_run: bool = False
    api_key: ApiKey | None = None
    # The caller's idempotency key (writes): a tool whose remote side has no idempotency of its own (GHL)
    # keys its own command records with it, so a retry after a lost answer finds the first attempt.
    idempotency_key: str | None = None
    # GHL ids of the records this call touched or confirmed: copied into the audit row (`ghl_ids`).
    ghl_refs: list[str] = field(default_factory=list)
    outcome: str = ""
    # The audit row's `call_id`: the outbox entries this call's writes record carry it, so the worker that
    # pushes them later adds GHL's request ids to the row.
    call_id: uuid.UUID = field(default_factory=uuid.uuid4)
    # GHL's traceIds of the requests made while the call ran, and the outbox entries its writes recorded.
    request_ids: list[str] = field(default_factory=list)
    outbox_entry_ids: list[int] = field(default_factory=list)
    contact_id: int | None = None

    def concerns(self, contact) -> None:
        """Record the person this call is about (a resolved, created or matched contact; the contact of the deal
        or appointment), for the audit and the contact's activity. The first one named wins."""
        if self.contact_id is None and contact is not None:
            self.contact_id = contact if isinstance(contact, int) else contact.pk


def storable(text: str) -> str:
    """`text` as PostgreSQL can store it: a NUL or a lone surrogate (neither is text) becomes U+FFFD."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _is_storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def file_summary(item: dict[str, Any]) -> dict[str, Any]:
    """A file given inline (`{name, content_type?, content_base64}`) as the audit keeps it: its name, content type,
    size in bytes and SHA-256, never the content (a file may be megabytes, and the person's own documents)."""
    summary = {k: redact(v) for k, v in item.items() if k != FILE_CONTENT}
    content = item[FILE_CONTENT]
    try:
        data = base64.b64decode(content, validate=True) if isinstance(content, str) else None
    except (binascii.Error, ValueError):
        data = None
    if data is None:
        chars = len(content) if isinstance(content, str) else None
        return {**summary, "size_bytes": None, "sha256": None,
                "content": f"[not base64{f', {chars} characters' if chars is not None else ''}: not kept]"}
    return {**summary, "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def files_summarised(value: Any) -> Any:
    """`value` with each file given inline as `file_summary` keeps it, nothing else changed: what a decided pending
    action keeps of its input, and what the approvals page and admin show of it."""
    if isinstance(value, dict) and FILE_CONTENT in value:
        return file_summary(value)
    if isinstance(value, dict):
        return {k: files_summarised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [files_summarised(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """`value` as the audit and a run's steps keep it: secret-looking keys' values, bearer credentials, JWTs, GHL
    tokens and our own API keys replaced, a file given inline summarised (`file_summary`), storable."""
    if isinstance(value, dict) and FILE_CONTENT in value:
        return file_summary(value)
    if isinstance(value, dict):
        return {storable(str(k)): REDACTED if SECRET_NAME.search(str(k)) and k != "idempotency_key" else redact(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return storable(SECRET_VALUE.sub(REDACTED, value))
    return value


def _unstorable_text(value: Any, path: str = "") -> str | None:
    """The path of the first name or text in `value` holding a NUL or a lone surrogate ("" for the top), or None."""
    if isinstance(value, str):
        return None if _is_storable(value) else path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and not _is_storable(key):
            return storable(where)
        found = _unstorable_text(item, where)
        if found is not None:
            return found
    return None


def request_hash(arguments: dict[str, Any]) -> str:
    body = {k: v for k, v in arguments.items() if k != "idempotency_key"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _validation_error(tool: Tool, arguments: Any) -> ToolError | None:
    if not isinstance(arguments, dict):
        return ToolError("invalid", "The input must be a JSON object.", hint=f"Send the arguments of {tool.name} "
                         "as an object, e.g. {\"contact\": \"Jane Doe\"}.")
    bad_text = _unstorable_text(arguments)
    if bad_text is not None:
        return ToolError("invalid", f"`{bad_text}` holds a NUL character or a broken (lone surrogate) character.",
                         field=bad_text, hint="Remove the control character, or send the text as valid UTF-8.")
    validator = Draft202012Validator(tool.input_schema)
    error = next(iter(sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))), None)
    if error is None:
        return None
    path = ".".join(str(p) for p in error.absolute_path)
    props = tool.input_schema.get("properties", {})
    if error.validator == "required":
        missing = next((name for name in error.validator_value if name not in (error.instance or {})), "")
        name = f"{path}.{missing}" if path else missing
        return ToolError("invalid", f"`{name}` is required.", field=name,
                         hint=f"Add `{name}`: {props.get(missing, {}).get('description', 'see the input schema')}")
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        name = f"{path}.{extra[0]}" if path else extra[0]
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        return ToolError("invalid", f"`{name}` is not an input of {tool.name}.", field=name,
                         hint=f"Remove it; the accepted names are: {allowed}.")
    top = str(error.absolute_path[0]) if error.absolute_path else ""
    expected = props.get(top, {}).get("description", "").rstrip(".")
    return ToolError("invalid", f"`{path or 'input'}`: {_schema_message(error)}", field=path or None,
                     hint=f"Fix `{path}`{': ' + expected if expected else ''}." if path else None)


def _schema_message(error) -> str:
    """The schema's complaint, without the offending value when that is long (jsonschema's message quotes it:
    a file's whole base64 would be answered, and kept in a run's steps)."""
    if len(error.message) <= MAX_ECHOED_CHARS:
        return error.message
    rule = json.dumps(error.validator_value, default=str)
    rule = f"{error.validator}: {rule}" if len(rule) <= 80 else error.validator
    kind = {str: "text", list: "array", dict: "object"}.get(type(error.instance), type(error.instance).__name__)
    size = f" of {len(error.instance)} {'characters' if kind == 'text' else 'items'}" \
        if isinstance(error.instance, (str, list, dict)) else ""
    return f"the value (an {kind}{size}) does not satisfy `{rule}`." if kind[0] in "aeiou" else \
        f"the value (a {kind}{size}) does not satisfy `{rule}`."


def write_policy_check(*, agent: Agent, tool: Tool, arguments: dict[str, Any],
                       ctx: ToolContext | None = None) -> ToolError | dict[str, Any] | None:
    """Where every real write (not a dry run) passes the agent's write policy before it runs.

    Returns None to let the write run, a ToolError to refuse it, or the envelope to answer instead: a write that
    needs approval is dry-run (so the owner sees exactly what would change) and becomes a pending action; the
    agent is answered `status: pending_approval` with its id (a dry run's error is answered as it is).
    """
    if agent.write_policy == Agent.WritePolicy.READ_ONLY:
        return ToolError("forbidden", f"Agent “{agent.name}” may not write; {tool.name} changes data.",
                         hint="Ask the organization's owner to change the agent's write policy.")
    from ..approvals.services import approval_needed, pending_action_create, pending_answer

    if ctx is None or not approval_needed(agent=agent, tool=tool):
        return None
    preview_ctx = dataclasses.replace(ctx, dry_run=True, ghl_refs=[], outcome="", request_ids=[], outbox_entry_ids=[])
    preview = _run(tool, preview_ctx, arguments)
    ctx.concerns(preview_ctx.contact_id)
    if not preview.get("ok"):
        return preview
    action = pending_action_create(agent=agent, surface=ctx.surface, tool=tool, arguments=arguments, preview=preview,
                                   idempotency_key=ctx.idempotency_key or "")
    ctx.outcome = "pending_approval"
    return pending_answer(action)


def key_refused(*, client: str | None) -> ToolError:
    """The answer to a call with a missing, unknown or revoked key from `client` (the caller's address, see
    `ratelimit.client_address`; None: not counted): `unauthorized`, or `rate_limited` once that address has made
    too many such calls this minute. Only such calls count, so a valid key from the same address is not refused."""
    retry_after = invalid_key_hit(client=client) if client is not None else None
    if retry_after is not None:
        return ToolError("rate_limited", "Too many calls with a missing, unknown or revoked API key from this "
                         "address.", retry_after=retry_after,
                         hint=f"Wait {retry_after} s; then send `Authorization: Bearer <key>` with an active key.")
    return ToolError("unauthorized", "The API key is missing, unknown or revoked.",
                     hint="Send `Authorization: Bearer <key>` with an active key from the organization's agents page.")


def _authenticate(api_key: ApiKey | str | None, client: str | None) -> ApiKey:
    key = api_key if isinstance(api_key, ApiKey) else api_key_authenticate(raw=api_key or "")
    if key is None or not key.is_active or not key.agent.is_active:
        raise key_refused(client=client)
    return key


def tool_call(*, agent: Agent | None = None, tool_name: str, arguments: Any, surface: str,
              idempotency_key: str | None = None, api_key: ApiKey | str | None = None,
              run_id: int | None = None, client: str | None = None) -> dict[str, Any]:
    """Run one tool call and answer with its envelope. Never raises for bad input.

    Pass `api_key` (raw bearer or an `ApiKey`) and `client` (the caller's address, `ratelimit.client_address`:
    calls with an invalid key are limited per address) from REST/MCP; the runner passes `agent` and its `run_id`.
    `idempotency_key` is the `Idempotency-Key` header (the input's own `idempotency_key` wins if both).
    """
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}")
    started = time.perf_counter()
    call_id = uuid.uuid4()
    key: ApiKey | None = None
    raw_input = arguments if isinstance(arguments, dict) else {"_input": arguments}
    if isinstance(arguments, dict) and idempotency_key and "idempotency_key" not in arguments:
        arguments = {**arguments, "idempotency_key": idempotency_key}
    holder: list[ToolContext] = []
    try:
        if agent is None:
            key = _authenticate(api_key, client)
            agent = key.agent
        envelope = _dispatch(agent=agent, key=key, tool_name=tool_name, arguments=arguments, surface=surface,
                             set_ctx=holder.append, call_id=call_id)
    except ToolError as exc:
        envelope = envelope_error(exc)
    except Exception:  # a bug: logged, audited, answered without details
        logger.exception("agents.tool.error", extra={"tool": tool_name, "surface": surface})
        envelope = envelope_error(ToolError("internal", "The tool failed unexpectedly; nothing may be assumed "
                                            "about its effect.", hint="Retry with the same idempotency_key."))
    ctx = holder[0] if holder else None
    latency_ms = (time.perf_counter() - started) * 1000
    if agent is not None:
        error = envelope.get("error") or {}
        tool_call_record(
            organization_id=agent.organization_id, agent=agent, key_prefix=key.prefix if key else "",
            surface=surface, tool=storable(str(tool_name)), input=redact(raw_input), ok=bool(envelope.get("ok")),
            error_code=error.get("code", ""), outcome=(ctx.outcome if ctx else "") or _outcome_of(envelope),
            dry_run=bool(ctx.dry_run) if ctx else False,
            idempotency_key=storable(str((arguments or {}).get("idempotency_key") or ""))
            if isinstance(arguments, dict) else "",
            ghl_ids=list(dict.fromkeys(ctx.ghl_refs)) if ctx else [],
            ghl_request_ids=list(dict.fromkeys(ctx.request_ids)) if ctx else [], latency_ms=latency_ms,
            call_id=call_id, contact_id=ctx.contact_id if ctx else None, run_id=run_id,
            outbox_entry_ids=ctx.outbox_entry_ids if ctx else [],
        )
    return envelope


def _outcome_of(envelope: dict[str, Any]) -> str:
    if not envelope.get("ok"):
        return "error"
    result = envelope.get("result") or {}
    return str(result.get("status") or "ok")


def _dispatch(*, agent: Agent, key: ApiKey | None, tool_name: str, arguments: Any, surface: str,
              set_ctx, call_id: uuid.UUID) -> dict[str, Any]:
    # Before anything else is looked at: a call of a misspelt tool or a family the agent lacks counts too.
    if key is not None:
        retry_after = rate_limit_hit(key_prefix=key.prefix, limit=key.rate_limit_per_minute)
        if retry_after is not None:
            raise ToolError("rate_limited", f"This key may make {key.rate_limit_per_minute} calls a minute.",
                            retry_after=retry_after, hint=f"Wait {retry_after} s, then retry.")
    tool = registry.get(tool_name)
    if tool is None:
        raise ToolError("not_found", f"There is no tool named {tool_name!r}.", field="tool",
                        hint="List the tools with GET /api/agent/tools/ (or MCP tools/list).")
    if tool.family not in (agent.enabled_families or []):
        raise ToolError("forbidden", f"Agent “{agent.name}” may not use the {tool.family} tools.",
                        hint="Ask the organization's owner to enable this tool family for the agent.")
    invalid = _validation_error(tool, arguments)
    if invalid is not None:
        raise invalid
    arguments = dict(arguments)
    dry_run = bool(arguments.pop("dry_run", False)) if tool.writes else False
    idem_key = arguments.pop("idempotency_key", None) if tool.writes else None
    ctx = ToolContext(organization=agent.organization, agent=agent, surface=surface, dry_run=dry_run, api_key=key,
                      idempotency_key=idem_key or None, call_id=call_id)
    set_ctx(ctx)
    if tool.writes and not dry_run:
        refused = write_policy_check(agent=agent, tool=tool, arguments=arguments, ctx=ctx)
        if isinstance(refused, ToolError):
            raise refused
        if refused is not None:
            return refused
    if not tool.writes or dry_run or not idem_key:
        return _run(tool, ctx, arguments)
    return _run_idempotent(tool, ctx, arguments, idem_key, request_hash({**arguments}))


def _run(tool: Tool, ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    with remote_calls_collected() as request_ids, agent_acting(ctx.agent.pk), \
            remote_calls_within(TOOL_REMOTE_SECONDS), outbox_caused_by(tool_call_cause(ctx.call_id)), \
            outbox_entries_recorded() as entry_ids:
        try:
            return envelope_ok(tool.fn(ctx, **arguments))
        except ToolError as exc:
            return envelope_error(exc)
        except RemoteUnavailable as exc:
            return envelope_error(ghl_unavailable_error(exc, tool))
        finally:
            ctx.request_ids.extend(request_ids)
            ctx.outbox_entry_ids.extend(entry_ids)


def ghl_unavailable_error(exc: RemoteUnavailable, tool: Tool) -> ToolError:
    """A remote that could not answer (after the client's own retries) as a tool error a model can act on."""
    retry_after = max(1, round(exc.retry_after)) if exc.retry_after else None
    wait = f"Wait {retry_after} s, then retry" if retry_after else "Retry in a minute"
    same_key = " with the same idempotency_key" if tool.writes else ""
    logger.warning("agents.tool.remote-unavailable", extra={"tool": tool.name, "error": type(exc).__name__})
    return ToolError("ghl_unavailable", f"{exc.provider_name} did not answer in time ({type(exc).__name__}); "
                     f"{tool.name} did not complete.", retry_after=retry_after,
                     hint=f"{wait}{same_key}; reads from the local mirror (find_contact, get_contact_context) "
                          "still work.")


def _run_idempotent(tool: Tool, ctx: ToolContext, arguments: dict[str, Any], idem_key: str,
                    body_hash: str) -> dict[str, Any]:
    record = _idempotency_claim(tool, ctx, idem_key, body_hash)
    if not isinstance(record, IdempotencyRecord):
        return record  # the first answer, replayed
    try:
        envelope = _run(tool, ctx, arguments)
    except Exception:
        record.delete()  # nothing reliable to replay: the key may be used again
        raise
    if not envelope["ok"] and envelope["error"]["code"] in ("rate_limited", "ghl_unavailable", "internal"):
        record.delete()  # transient: a retry with the same key must do the work
    else:
        IdempotencyRecord.objects.filter(pk=record.pk).update(response={**envelope, "_ghl_refs": ctx.ghl_refs,
                                                                      "_contact_id": ctx.contact_id})
    return envelope


def _idempotency_claim(tool: Tool, ctx: ToolContext, idem_key: str, body_hash: str) -> IdempotencyRecord | dict:
    """This call's claim on `idem_key` (a new record, or one a call that died without answering left behind), or
    the first call's answer to replay. Raises `conflict` for another input, or a first call still running."""
    scope = IdempotencyRecord.objects.for_org(ctx.organization).filter(agent=ctx.agent, key=idem_key)
    deadline = time.monotonic() + IDEMPOTENCY_WAIT_SECONDS
    while True:
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(organization=ctx.organization, agent=ctx.agent,
                                                        key=idem_key, tool=tool.name, request_hash=body_hash)
        except IntegrityError:
            record = scope.first()
        if record is None:  # removed meanwhile (its first request failed): claim it again
            continue
        if record.tool != tool.name or record.request_hash != body_hash:
            raise ToolError("conflict", "This idempotency_key was already used with a different input.",
                            field="idempotency_key",
                            hint="Use a new idempotency_key for a new request, or resend the first input unchanged.")
        if record.response is not None:
            ctx.outcome = "replayed"
            ctx.ghl_refs.extend(record.response.get("_ghl_refs", []))
            ctx.concerns(record.response.get("_contact_id"))
            return {k: v for k, v in record.response.items() if not k.startswith("_")}
        now = timezone.now()
        if now - record.created_at > timedelta(seconds=IDEMPOTENCY_ABANDONED_SECONDS):
            # Its call died without answering (a killed worker): the first to move the claim on does the work;
            # the tools' own checks (the mirror, GHL's duplicate search, the send command) keep it from doubling.
            if scope.filter(pk=record.pk, response__isnull=True, created_at=record.created_at).update(created_at=now):
                logger.warning("agents.idempotency.abandoned-claim-taken",
                               extra={"tool": tool.name, "agent_id": ctx.agent.pk, "claimed_at": record.created_at})
                record.created_at = now
                return record
            continue
        if time.monotonic() >= deadline:
            raise ToolError("conflict", "A request with this idempotency_key is still running.",
                            field="idempotency_key", hint="Retry in a few seconds to get its answer.")
        time.sleep(IDEMPOTENCY_POLL_SECONDS)  # the same request sent twice at once: answer both with its answer


# The runner checks a whole turn of tool calls before it runs any of them.
validation_error = _validation_error
