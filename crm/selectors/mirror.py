"""What the local mirror holds of an organisation, per kind of record, and how fresh it is.

For a kind linked through `ExternalIdentity` (contacts, deals, calendars, ...): how many live rows, how many
of them are linked to a remote record, and the newest time one of those links agreed with the remote
(`last_synced_at`). Conversations have no links: a message the remote has carries its id (`provider_message_id`),
so their freshness is the newest change of such a message. Counted in the database, one query per kind.
"""
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Max, Q

from tenancy.models import Organization

from ..models import (
    Appointment,
    Calendar,
    Contact,
    Conversation,
    CrmUser,
    ExternalIdentity,
    Message,
    Opportunity,
    Pipeline,
)

LINKED_KINDS = (("contacts", Contact), ("opportunities", Opportunity), ("pipelines", Pipeline),
                ("calendars", Calendar), ("appointments", Appointment), ("users", CrmUser))


def mirror_summary(*, organization: Organization | int) -> dict[str, dict[str, Any]]:
    """``{kind: {"count", "linked", "synced_at"}}`` for the linked kinds and ``conversations``; ``synced_at`` is
    an aware datetime or None (nothing of the kind has agreed with a remote yet)."""
    types = ContentType.objects.get_for_models(*(model for _kind, model in LINKED_KINDS))
    links = {row["content_type"]: row for row in ExternalIdentity.objects.for_org(organization).filter(
        content_type__in=list(types.values())).values("content_type").annotate(n=Count("id"),
                                                                               last=Max("last_synced_at"))}
    out: dict[str, dict[str, Any]] = {}
    for kind, model in LINKED_KINDS:
        row = links.get(types[model].pk, {})
        out[kind] = {"count": model.objects.for_org(organization).filter(is_archived=False).count(),
                     "linked": row.get("n", 0), "synced_at": row.get("last")}
    conversations = Conversation.objects.for_org(organization).filter(is_archived=False).aggregate(
        n=Count("id"), linked=Count("id", filter=~Q(provider_conversation_id="")))
    out["conversations"] = {"count": conversations["n"], "linked": conversations["linked"],
                            "synced_at": Message.objects.for_org(organization).exclude(provider_message_id="")
                            .aggregate(last=Max("updated_at"))["last"]}
    return out


def newest_of(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
