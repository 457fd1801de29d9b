"""What the local mirror holds of an organisation, per kind of record, and how fresh it is.

For a kind linked through `ExternalIdentity` (contacts, deals, calendars, ...): how many live rows, how many
of them are linked to a remote record, and the newest time one of those links agreed with the remote
(`last_synced_at`). Conversations have no links: a message the remote has carries its id (`provider_message_id`),
so their freshness is the newest change of such a message. Counted in the database, up to a cap.
"""
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Max, QuerySet

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


#: Counts stop here: beyond it a kind is reported as "at least this many" (`capped`), so the summary costs the
#: same for an account of a thousand records as for one of millions.
COUNT_CAP = 10_000


def mirror_summary(*, organization: Organization | int, cap: int = COUNT_CAP) -> dict[str, dict[str, Any]]:
    """``{kind: {"count", "linked", "capped", "synced_at"}}`` for the linked kinds and ``conversations``.

    ``count`` and ``linked`` are exact up to ``cap``; ``capped`` says one of them reached it (a lower bound).
    ``synced_at`` is an aware datetime or None (nothing of the kind has agreed with a remote yet). Each figure is
    read through an index on the organization (``crm_extid_org_kind_synced`` for the links,
    ``crm_message_org_changed`` for the messages' freshness), never by reading every row."""
    types = ContentType.objects.get_for_models(*(model for _kind, model in LINKED_KINDS))
    links = ExternalIdentity.objects.for_org(organization)
    out: dict[str, dict[str, Any]] = {}
    for kind, model in LINKED_KINDS:
        of_kind = links.filter(content_type=types[model])
        count = _count_up_to(model.objects.for_org(organization).filter(is_archived=False), cap)
        linked = _count_up_to(of_kind, cap)
        out[kind] = {"count": count, "linked": linked, "capped": max(count, linked) >= cap,
                     "synced_at": of_kind.aggregate(last=Max("last_synced_at"))["last"]}
    conversations = Conversation.objects.for_org(organization).filter(is_archived=False)
    count = _count_up_to(conversations, cap)
    linked = _count_up_to(conversations.exclude(provider_conversation_id=""), cap)
    out["conversations"] = {"count": count, "linked": linked, "capped": max(count, linked) >= cap,
                            "synced_at": Message.objects.for_org(organization).exclude(provider_message_id="")
                            .aggregate(last=Max("updated_at"))["last"]}
    return out


def _count_up_to(rows: QuerySet, cap: int) -> int:
    # COUNT over a LIMITed subquery: the database stops reading at `cap` rows.
    return rows.order_by()[:cap].count()


def newest_of(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None
