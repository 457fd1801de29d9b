"""Reads of conversations and messages, scoped to one organization."""
from datetime import datetime

from django.db.models import Max, OuterRef, QuerySet, Subquery

from tenancy.models import Organization

from ..models import Contact, Conversation, Message


def conversation_list(*, organization: Organization | int, contact: Contact | None = None,
                      unread_only: bool = False) -> QuerySet[Conversation]:
    """Newest activity first, each annotated with its last message's id."""
    last = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    rows = (Conversation.objects.for_org(organization).filter(is_archived=False).select_related("contact")
            .annotate(last_message_pk=Subquery(last)))
    if contact is not None:
        rows = rows.filter(contact=contact)
    if unread_only:
        rows = rows.filter(unread_count__gt=0)
    return rows.order_by("-last_message_at", "-id")


def messages_by_id(*, organization: Organization | int, ids: list[int]) -> dict[int, Message]:
    return {m.pk: m for m in Message.objects.for_org(organization).filter(pk__in=[i for i in ids if i])}


def message_page(*, organization: Organization | int, contact: Contact | None = None,
                 conversation: Conversation | None = None, before: datetime | None = None,
                 limit: int = 20) -> tuple[list[Message], bool]:
    """The newest `limit` messages before `before` (of one contact, or one conversation), oldest first, and
    whether older ones exist."""
    rows = Message.objects.for_org(organization).select_related("conversation")
    rows = rows.filter(conversation=conversation) if conversation is not None else rows.filter(
        conversation__contact=contact)
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    page = list(rows.order_by("-created_at", "-id")[:limit + 1])
    return list(reversed(page[:limit])), len(page) > limit


def conversations_synced_at(*, organization: Organization | int, conversation_ids: list[int]) -> dict[int, datetime]:
    """Per conversation: the newest change of one of its messages the provider has (it carries the provider's id),
    i.e. the last time the mirror is known to have agreed with the provider about it. Conversations with none
    are left out."""
    rows = (Message.objects.for_org(organization).filter(conversation_id__in=conversation_ids)
            .exclude(provider_message_id="").values("conversation_id").annotate(last=Max("updated_at")))
    return {row["conversation_id"]: row["last"] for row in rows}
