"""Reconciliation of conversations by last-message date: messages GHL has that its webhooks did not bring.

Every 15 minutes per connection: ``GET /conversations/search`` newest last message first, stopping at the first
conversation whose last message is older than the previous run's start (minus an overlap for GHL's search lag);
for each conversation that changed, its messages newest first down to the same date. Every message goes through
the webhook path (`message_apply_ghl`), so a known one changes nothing (or moves its status forwards) and a
missed inbound one raises its "message received" event then, once. The cost follows the conversations that
changed, not how many there are. The watermark lives on the connection (`config["messages_reconciled_at"]`).

A task's run is bounded in time (#19): out of its budget after a conversation, the run keeps where it is on the
connection (`config["messages_reconcile_resume"]`: its window, the last conversation's sort value and a handover
number) and its task queues one follow-up, which continues from the next conversation; the watermark moves only
when a run reaches the window's end. A run that finds a walk left unfinished (its follow-up lost) continues it;
a follow-up whose number is no longer the walk's does nothing. One run per location at a time.
"""
import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from channels_app.inbound import SendInFlight

from ..client.conversations import conversation_sort_value
from ..installation import GhlInstallation
from ..models import GhlConnection
from ..sync.exclusive import one_per_location
from ..sync.handover import deadline_after
from ..timestamps import parse_ghl_time
from .inbound import MessagePayloadError, message_apply_ghl

logger = logging.getLogger(__name__)

OVERLAP = dt.timedelta(minutes=2)
FIRST_LOOKBACK = dt.timedelta(days=1)  # a first run repairs the last day; the initial history is not a sync
WATERMARK_KEY = "messages_reconciled_at"
RESUME_KEY = "messages_reconcile_resume"
PAGE_SIZE = 50
BUDGET_SECONDS = 50.0  # one task's run; then it hands over


@dataclass
class MessagesReconcileResult:
    conversations: int = 0
    messages_seen: int = 0
    recovered: int = 0
    handover: int | None = None  # out of time: the follow-up continues the walk with this number
    superseded: bool = False  # a follow-up whose walk was continued already (or finished): nothing done


def _as_webhook(item: dict, conversation_id: str) -> dict:
    """A message of the messages list in the shape of its webhook (the list says TYPE_*, the webhook SMS)."""
    email = (item.get("meta") or {}).get("email") or {}
    ids = email.get("messageIds") or []
    return {"type": "OutboundMessage" if item.get("direction") == "outbound" else "InboundMessage",
            "messageId": item.get("id"), "contactId": item.get("contactId"), "conversationId": conversation_id,
            "messageType": item.get("messageType"), "body": item.get("body"), "direction": item.get("direction"),
            "status": item.get("status"), "dateAdded": item.get("dateAdded"), "contentType": item.get("contentType"),
            "attachments": item.get("attachments") or [], "userId": item.get("userId"), "source": item.get("source"),
            "subject": item.get("subject"), "threadId": item.get("threadId"),
            "emailMessageId": item.get("emailMessageId") or (ids[0] if ids else None),
            **{k: (item.get("meta") or {}).get(k) for k in ("callDuration", "callStatus")
               if (item.get("meta") or {}).get(k) is not None}}


def _store(connection: GhlConnection, **changes) -> None:
    """Set (or, for None, remove) keys of the connection's config under its row lock."""
    with transaction.atomic():
        row = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        config = {**(row.config or {}), **changes}
        row.config = {key: value for key, value in config.items() if value is not None}
        row.save(update_fields=["config"])
    connection.config = row.config


def _apply(connection: GhlConnection, conversation_id: str, item: dict) -> bool:
    """Apply one listed message as its webhook; whether it was new here."""
    try:
        return message_apply_ghl(connection=connection, payload=_as_webhook(item, conversation_id)).created
    except SendInFlight:
        return False  # our own send, answered within seconds: the next run sees it stored
    except MessagePayloadError as exc:
        logger.info("ghl.messages.reconcile-skipped", extra={"connection_id": connection.pk,
                                                              "message": item.get("id"), "error": str(exc)})
        return False


@one_per_location("messages_reconcile")
def messages_reconcile(*, connection: GhlConnection, budget_seconds: float | None = None,
                       handover: int | None = None) -> MessagesReconcileResult:
    """One run (see the module docstring), for at most ``budget_seconds`` (None: to the end); ``handover``: the
    number a follow-up was queued with. `SyncBusy` (nothing done) while another run of the location goes on."""
    deadline = deadline_after(budget_seconds)
    connection.refresh_from_db(fields=["config"])
    walk = (connection.config or {}).get(RESUME_KEY)
    result = MessagesReconcileResult()
    if handover is not None and (walk is None or walk.get("handover") != handover):
        logger.info("ghl.messages.reconcile-superseded", extra={"connection_id": connection.pk, "handover": handover})
        result.superseded = True
        return result
    if walk is None:
        started = timezone.now()
        since_raw = (connection.config or {}).get(WATERMARK_KEY)
        since = (dt.datetime.fromisoformat(since_raw) if since_raw else started - FIRST_LOOKBACK) - OVERLAP
        walk = {"started": started.isoformat(), "since": since.isoformat(), "after": None, "handover": 0}
    since = dt.datetime.fromisoformat(walk["since"])
    with GhlInstallation(connection).get_client() as client:
        api = client.conversations
        for conversation in api.iter_search(page_size=PAGE_SIZE, sort="desc", sort_by="last_message_date",
                                            start_after=walk["after"]):
            last = parse_ghl_time(conversation.get("lastMessageDate"))
            if last is None or last < since:
                break  # newest first: every later one is older
            result.conversations += 1
            for item in api.iter_messages(conversation["id"], page_size=PAGE_SIZE):
                at = parse_ghl_time(item.get("dateAdded"))
                if at is not None and at < since:
                    break
                result.messages_seen += 1
                result.recovered += int(_apply(connection, conversation["id"], item))
            after = conversation_sort_value(conversation)
            if time.monotonic() >= deadline and after is not None:
                result.handover = walk["handover"] + 1
                _store(connection, **{RESUME_KEY: {**walk, "after": after, "handover": result.handover}})
                logger.info("ghl.messages.reconcile-handed-over", extra={"connection_id": connection.pk,
                                                                          **result.__dict__})
                return result
    _store(connection, **{WATERMARK_KEY: walk["started"], RESUME_KEY: None})
    logger.info("ghl.messages.reconciled", extra={"connection_id": connection.pk, **result.__dict__})
    return result
