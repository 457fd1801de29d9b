"""Reconciliation of conversations by last-message date: messages GHL has that its webhooks did not bring.

Every 15 minutes per connection: ``GET /conversations/search`` newest last message first, stopping at the first
conversation whose last message is older than the previous run's start (minus an overlap for GHL's search lag);
for each conversation that changed, its messages newest first down to the same date. Every message goes through
the webhook path (`message_apply_ghl`), so a known one changes nothing (or moves its status forwards) and a
missed inbound one raises its "message received" event then, once. The cost follows the conversations that
changed, not how many there are. The watermark lives on the connection (`config["messages_reconciled_at"]`).
"""
import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from channels_app.inbound import SendInFlight

from .installation import GhlInstallation
from .messages_inbound import MessagePayloadError, message_apply_ghl
from .models import GhlConnection
from .sync.contacts_inbound import parse_ghl_time

logger = logging.getLogger(__name__)

OVERLAP = dt.timedelta(minutes=2)
FIRST_LOOKBACK = dt.timedelta(days=1)  # a first run repairs the last day; the initial history is not a sync
WATERMARK_KEY = "messages_reconciled_at"
PAGE_SIZE = 50


@dataclass
class MessagesReconcileResult:
    conversations: int = 0
    messages_seen: int = 0
    recovered: int = 0


def _ms_time(value) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    except (TypeError, ValueError):
        return parse_ghl_time(value)


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


def messages_reconcile(*, connection: GhlConnection) -> MessagesReconcileResult:
    started = timezone.now()
    since_raw = (connection.config or {}).get(WATERMARK_KEY)
    since = (dt.datetime.fromisoformat(since_raw) if since_raw else started - FIRST_LOOKBACK) - OVERLAP
    result = MessagesReconcileResult()
    with GhlInstallation(connection).get_client() as client:
        api = client.conversations
        for conversation in api.iter_search(page_size=PAGE_SIZE, sort="desc", sort_by="last_message_date"):
            last = _ms_time(conversation.get("lastMessageDate"))
            if last is None or last < since:
                break  # newest first: every later one is older
            result.conversations += 1
            for item in api.iter_messages(conversation["id"], page_size=PAGE_SIZE):
                at = parse_ghl_time(item.get("dateAdded"))
                if at is not None and at < since:
                    break
                result.messages_seen += 1
                try:
                    outcome = message_apply_ghl(connection=connection,
                                                payload=_as_webhook(item, conversation["id"])).created
                except SendInFlight:
                    continue  # our own send, answered within seconds: the next run sees it stored
                except MessagePayloadError as exc:
                    logger.info("ghl.messages.reconcile-skipped", extra={"connection_id": connection.pk,
                                                                          "message": item.get("id"),
                                                                          "error": str(exc)})
                    continue
                result.recovered += int(outcome)
    with transaction.atomic():
        row = GhlConnection.objects.select_for_update().get(pk=connection.pk)
        row.config = {**(row.config or {}), WATERMARK_KEY: started.isoformat()}
        row.save(update_fields=["config"])
    logger.info("ghl.messages.reconciled", extra={"connection_id": connection.pk, **result.__dict__})
    return result
