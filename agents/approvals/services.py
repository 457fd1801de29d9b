"""Approvals: turn a write that needs a person into a pending action (with its dry run), and decide it.

    policy          needs approval
    auto            nothing
    approve_risky   destructive or money tools
    approve_writes  every write

The dispatcher's `write_policy_check` calls `approval_needed` / `pending_action_create`; an approved action runs
once through the same dispatcher (same checks, audit) with the idempotency key `approval-<id>`, inside
`approval_executing`, which lets that one call through.
"""
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ..models import Agent
from .models import PendingAction

_executing: ContextVar[int | None] = ContextVar("agents_approval_executing", default=None)


@contextmanager
def approval_executing(action_id: int) -> Iterator[None]:
    token = _executing.set(action_id)
    try:
        yield
    finally:
        _executing.reset(token)


def approval_needed(*, agent: Agent, tool) -> bool:
    if _executing.get() is not None:
        return False
    if agent.write_policy == Agent.WritePolicy.APPROVE_WRITES:
        return True
    if agent.write_policy == Agent.WritePolicy.APPROVE_RISKY:
        return bool(tool.destructive or tool.money)
    return False


def _contact_of(preview: dict[str, Any]) -> int | None:
    result = preview.get("result") or {}
    for key in ("contact", "appointment", "opportunity"):
        value = result.get(key)
        if isinstance(value, dict):
            cid = value.get("contact_id") if key == "contact" else (value.get("contact") or {}).get("contact_id")
            if isinstance(cid, int):
                return cid
    return None


def pending_action_create(*, agent: Agent, surface: str, tool, arguments: dict[str, Any], preview: dict[str, Any],
                          idempotency_key: str = "") -> PendingAction:
    """Record the write (or find the one already recorded under the same idempotency key)."""
    if idempotency_key:
        known = PendingAction.objects.for_org(agent.organization_id).filter(
            agent=agent, idempotency_key=idempotency_key).first()
        if known is not None:
            return known
    return PendingAction.objects.create(
        organization_id=agent.organization_id, agent=agent, surface=surface, tool=tool.name, arguments=arguments,
        preview=preview, idempotency_key=idempotency_key or "", contact_id=_contact_of(preview))


def pending_answer(action: PendingAction) -> dict[str, Any]:
    """What the agent reads instead of the write's answer."""
    return {"ok": True, "result": {
        "status": "pending_approval", "approval_id": action.pk,
        "message": "Nothing was changed yet: this write waits for a person to approve it. Tell the user it is "
                   "waiting for approval; do not send it again.",
        "would": action.preview.get("result", action.preview)}}


def _files_restored(arguments: Any, stored: dict[str, Any]) -> Any:
    """The owner's input with each file the page showed as its digest (`files_summarised`) given back its bytes
    from the stored input: a `{name, content_type?, size_bytes, sha256}` whose SHA-256 is a stored file's. A
    summary matching no stored file is left as it is (the tool's schema refuses it)."""
    from ..tools.dispatch import FILE_CONTENT, file_summary

    contents: dict[str, str] = {}

    def collect(value: Any) -> None:
        if isinstance(value, dict) and FILE_CONTENT in value:
            digest = file_summary(value)["sha256"]
            if digest:
                contents[digest] = value[FILE_CONTENT]
        elif isinstance(value, dict | list):
            for item in value.values() if isinstance(value, dict) else value:
                collect(item)

    def restore(value: Any) -> Any:
        if isinstance(value, dict) and FILE_CONTENT not in value and value.get("sha256") in contents:
            kept = {k: v for k, v in value.items() if k not in ("size_bytes", "sha256")}
            return {**kept, FILE_CONTENT: contents[value["sha256"]]}
        if isinstance(value, dict):
            return {k: restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [restore(v) for v in value]
        return value

    collect(stored)
    return restore(arguments) if contents else arguments


def pending_action_reject(*, action: PendingAction, user) -> PendingAction:
    """Refuse the write; its input keeps a file as its digest from now on (`files_summarised`)."""
    from ..tools.dispatch import files_summarised

    updated = PendingAction.objects.filter(pk=action.pk, status=PendingAction.Status.PENDING).update(
        status=PendingAction.Status.REJECTED, decided_by=user, decided_at=timezone.now(),
        arguments=files_summarised(action.arguments))
    if not updated:
        action.refresh_from_db()
        raise ValidationError({"status": f"This action was already {action.get_status_display().lower()}."})
    action.refresh_from_db()
    return action


def pending_action_approve(*, action: PendingAction, user, arguments: dict[str, Any] | None = None) -> PendingAction:
    """Run the write once (with the owner's edited input if given); a second approval is refused. A file in the
    edited input may be the digest the page shows: it is run with the stored file's bytes. From the approval on,
    the row keeps a file as its digest (the run has the bytes in hand), so none stays once decided."""
    from ..tools.dispatch import files_summarised, tool_call, validation_error
    from ..tools.registry import registry

    tool = registry.get(action.tool)
    if arguments is not None:
        arguments = _files_restored(arguments, action.arguments)
    edited = arguments is not None and arguments != action.arguments
    final = dict(arguments if arguments is not None else action.arguments)
    if tool is None:
        raise ValidationError({"tool": f"The tool {action.tool} no longer exists."})
    problem = validation_error(tool, final)
    if problem is not None:
        raise ValidationError({"arguments": f"{problem.message} {problem.hint or ''}".strip()})
    with transaction.atomic():
        updated = PendingAction.objects.filter(pk=action.pk, status=PendingAction.Status.PENDING).update(
            status=PendingAction.Status.APPROVED, decided_by=user, decided_at=timezone.now(),
            arguments=files_summarised(final), edited=edited)
    if not updated:
        action.refresh_from_db()
        raise ValidationError({"status": f"This action was already {action.get_status_display().lower()}."})
    agent = Agent.objects.get(pk=action.agent_id)
    with approval_executing(action.pk):
        envelope = tool_call(agent=agent, tool_name=action.tool, arguments=final, surface=action.surface,
                             idempotency_key=f"approval-{action.pk}")
    PendingAction.objects.filter(pk=action.pk).update(
        result=envelope, status=PendingAction.Status.DONE if envelope.get("ok") else PendingAction.Status.FAILED)
    action.refresh_from_db()
    return action
