"""Conversations and messages (``Version: 2021-04-15``). REFERENCE.md §d.

Sending is a non-idempotent POST: it is retried on 429/503 (not processed) and when the request never left, but
not after a read timeout — a duplicate SMS is worse than a send the caller sees failing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import VERSION_2021_04_15, Resource, seg
from .pagination import iter_last_message_id, iter_sort_value
from .types import Conversation, ConversationSearchPage, Message, MessagesPage, SendMessageResult

MESSAGE_STATUSES = ("delivered", "failed", "pending", "read")
SEARCH_PAGE_SIZE = 100
MESSAGES_PAGE_SIZE = 100


def normalise_messages_page(data: Mapping[str, Any]) -> MessagesPage:
    """Accept both documented shapes (REFERENCE §i.3): wrapped ``{"messages": {"messages": [...], ...}}`` (2025
    spec, the long-standing form) and flat ``{"messages": [...], "lastMessageId", "nextPage"}`` (2026 spec)."""
    inner = data.get("messages")
    page = inner if isinstance(inner, dict) else data
    messages = page.get("messages")
    return {
        "messages": list(messages) if isinstance(messages, list) else [],
        "lastMessageId": page.get("lastMessageId"),
        "nextPage": bool(page.get("nextPage")),
    }


def conversation_sort_value(conversation: Mapping[str, Any]) -> Any:
    """The ``startAfterDate`` cursor for the next page: the item's sort value, else its last message date."""
    sort = conversation.get("sort")
    if isinstance(sort, list) and len(sort) == 1:
        sort = sort[0]
    if isinstance(sort, int | float):
        return sort
    value = conversation.get("lastMessageDate")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class ConversationsApi(Resource):
    version = VERSION_2021_04_15

    def search(
        self,
        *,
        contact_id: str | None = None,
        query: str | None = None,
        status: str | None = None,
        assigned_to: str | None = None,
        sort: str | None = None,
        sort_by: str | None = None,
        limit: int = 20,
        start_after_date: int | None = None,
        **extra: Any,
    ) -> ConversationSearchPage:
        """``GET /conversations/search`` → ``{"conversations": [...], "total": n}``.

        ``extra`` passes any other documented query parameter verbatim (e.g. ``lastMessageType="TYPE_SMS"``).
        """
        params = {
            "locationId": self.location_id,
            "contactId": contact_id,
            "query": query,
            "status": status,
            "assignedTo": assigned_to,
            "sort": sort,
            "sortBy": sort_by,
            "limit": limit,
            "startAfterDate": start_after_date,
            **extra,
        }
        return self._get("/conversations/search", params)

    def iter_search(self, *, page_size: int = SEARCH_PAGE_SIZE, start_after: Any = None,
                    **filters: Any) -> Iterator[Conversation]:
        """Every conversation matching ``filters`` (same keywords as :meth:`search`), following ``startAfterDate``;
        ``start_after``: continue after the conversation of that `conversation_sort_value`."""

        def fetch(cursor: dict[str, Any]) -> dict[str, Any]:
            return self.search(limit=page_size, start_after_date=cursor.get("startAfterDate"), **filters)

        return iter_sort_value(fetch, items_key="conversations", page_size=page_size,
                               sort_key=conversation_sort_value, start_after=start_after)

    def get(self, conversation_id: str) -> Conversation:
        """``GET /conversations/{id}`` → the conversation (GHL does not wrap this one)."""
        data = self._get(f"/conversations/{seg(conversation_id)}")
        return data.get("conversation", data) if isinstance(data.get("conversation"), dict) else data

    def list_messages(
        self,
        conversation_id: str,
        *,
        last_message_id: str | None = None,
        limit: int = 20,
        types: Sequence[str] | None = None,
    ) -> MessagesPage:
        """``GET /conversations/{id}/messages`` → normalised ``{"messages", "lastMessageId", "nextPage"}``."""
        params = {"lastMessageId": last_message_id, "limit": limit, "type": ",".join(types) if types else None}
        data = self._get(f"/conversations/{seg(conversation_id)}/messages", params)
        return normalise_messages_page(data)

    def iter_messages(
        self, conversation_id: str, *, page_size: int = MESSAGES_PAGE_SIZE, types: Sequence[str] | None = None
    ) -> Iterator[Message]:
        """Every message of the conversation (newest first, as GHL returns them), following ``lastMessageId``."""

        def fetch(cursor: dict[str, Any]) -> MessagesPage:
            return self.list_messages(
                conversation_id, last_message_id=cursor.get("lastMessageId"), limit=page_size, types=types
            )

        return iter_last_message_id(fetch)

    def get_message(self, message_id: str) -> Message:
        """``GET /conversations/messages/{id}`` → the message."""
        data = self._get(f"/conversations/messages/{seg(message_id)}")
        return data.get("message", data) if isinstance(data.get("message"), dict) else data

    def send_message(self, body: Mapping[str, Any]) -> SendMessageResult:
        """``POST /conversations/messages`` with a full ``SendMessageBodyDto`` (``type`` and ``contactId`` required).

        We never send ``status``/``subType``: the 2026 spec marks them required, which REFERENCE §i.4 treats as a
        spec artefact (the 2025 spec required only ``type`` + ``contactId``).
        """
        if not body.get("type") or not body.get("contactId"):
            raise ValueError("send_message needs 'type' and 'contactId'")
        return self._send("POST", "/conversations/messages", dict(body))

    def send_sms(
        self,
        contact_id: str,
        message: str,
        *,
        from_number: str | None = None,
        to_number: str | None = None,
        attachments: Sequence[str] | None = None,
        scheduled_timestamp: int | None = None,
    ) -> SendMessageResult:
        """Send an SMS to the contact's phone → ``{"conversationId", "messageId", ...}``."""
        body = _clean(
            {
                "type": "SMS",
                "contactId": contact_id,
                "message": message,
                "fromNumber": from_number,
                "toNumber": to_number,
                "attachments": list(attachments) if attachments else None,
                "scheduledTimestamp": scheduled_timestamp,
            }
        )
        return self.send_message(body)

    def send_email(
        self,
        contact_id: str,
        *,
        subject: str,
        html: str | None = None,
        message: str | None = None,
        email_from: str | None = None,
        email_to: str | None = None,
        email_cc: Sequence[str] | None = None,
        email_bcc: Sequence[str] | None = None,
        reply_message_id: str | None = None,
        thread_id: str | None = None,
        attachments: Sequence[str] | None = None,
        scheduled_timestamp: int | None = None,
    ) -> SendMessageResult:
        """Send an email → includes ``emailMessageId``, which threads later inbound replies."""
        if not html and not message:
            raise ValueError("send_email needs html or message")
        body = _clean(
            {
                "type": "Email",
                "contactId": contact_id,
                "subject": subject,
                "html": html,
                "message": message,
                "emailFrom": email_from,
                "emailTo": email_to,
                "emailCc": list(email_cc) if email_cc else None,
                "emailBcc": list(email_bcc) if email_bcc else None,
                "replyMessageId": reply_message_id,
                "threadId": thread_id,
                "attachments": list(attachments) if attachments else None,
                "scheduledTimestamp": scheduled_timestamp,
            }
        )
        return self.send_message(body)

    def send_whatsapp(
        self,
        contact_id: str,
        *,
        message: str | None = None,
        template_id: str | None = None,
        attachments: Sequence[str] | None = None,
    ) -> SendMessageResult:
        """Send a WhatsApp message: free text inside the session window, else a ``template_id``."""
        if not message and not template_id:
            raise ValueError("send_whatsapp needs message or template_id")
        body = _clean(
            {
                "type": "WhatsApp",
                "contactId": contact_id,
                "message": message,
                "templateId": template_id,
                "attachments": list(attachments) if attachments else None,
            }
        )
        return self.send_message(body)

    def create(self, contact_id: str) -> Conversation:
        """``POST /conversations/`` → the new conversation (GHL answers 400 when the contact already has one)."""
        data = self._send("POST", "/conversations/", {"locationId": self.location_id, "contactId": contact_id})
        return data.get("conversation", data)

    def update(self, conversation_id: str, *, unread_count: int | None = None,
               starred: bool | None = None) -> Conversation:
        """``PUT /conversations/{id}``: e.g. ``unread_count=0`` marks it read."""
        body = _clean({"locationId": self.location_id, "unreadCount": unread_count, "starred": starred})
        data = self._send("PUT", f"/conversations/{seg(conversation_id)}", body)
        return data.get("conversation", data) if isinstance(data, dict) else {}

    def upload(self, *, conversation_id: str, contact_id: str, files: Sequence[tuple[str, str, bytes]]) -> list[str]:
        """``POST /conversations/messages/upload`` (multipart, field ``fileAttachment``) → the files' URLs.

        ``files`` are ``(name, content_type, data)``. Not retried after a timeout, like a send (it is a POST)."""
        form = {"conversationId": conversation_id, "contactId": contact_id, "locationId": self.location_id}
        parts = [("fileAttachment", (name, data, content_type)) for name, content_type, data in files]
        data = self._http.request("POST", "/conversations/messages/upload", version=self.version, form=form,
                                  files=parts)
        uploaded = data.get("uploadedFiles") if isinstance(data, dict) else None
        if isinstance(uploaded, dict):
            return [str(url) for url in uploaded.values()]
        return [str(url) for url in uploaded or []]

    def update_message_status(
        self,
        message_id: str,
        status: str,
        *,
        error: Mapping[str, Any] | None = None,
        email_message_id: str | None = None,
        recipients: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``PUT /conversations/messages/{id}/status`` (conversation-provider apps report delivery)."""
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"status must be one of {MESSAGE_STATUSES}")
        body = _clean(
            {
                "status": status,
                "error": dict(error) if error else None,
                "emailMessageId": email_message_id,
                "recipients": list(recipients) if recipients else None,
            }
        )
        return self._send("PUT", f"/conversations/messages/{seg(message_id)}/status", body)


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}
