"""Local changes to opportunities (agents' tools, the pipeline board): validated, saved, queued for the CRM.

Each change records an outbox entry naming the changed fields in the same transaction (the provider's pusher
sends them and confirms them against the CRM) and announces stage and status changes (`crm.events`) after
commit. `opportunity_plan_change` says what a change would do without doing it (dry runs say old → new).
"""
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from ..currency import currency_for
from ..models import Contact, CrmUser, LostReason, Opportunity, Pipeline, PipelineStage
from ..selectors.contact_custom_fields import opportunity_custom_field_definitions
from ..sync.mapping import CUSTOM_PREFIX
from ..sync.outbox import outbox_record
from .custom_fields import custom_field_value_clean
from .opportunity_sync import (
    SYNCED_FIELDS,
    opportunity_announce_changes,
    opportunity_set_value,
    opportunity_values,
)
from .pipelines import monetary_value_clean, opportunity_create

STATUSES = tuple(Opportunity.Status.values)


@dataclass(frozen=True)
class Change:
    field: str
    old: Any  # snapshot form (ids for rows, money as a string)
    new: Any
    old_shown: Any  # as a person reads it (names for rows)
    new_shown: Any

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.old_shown, "to": self.new_shown}


def _shown(field: str, value: Any) -> Any:
    """A value as a person reads it: names for rows, money as a string."""
    if value is None:
        return None
    if field == "stage":
        return PipelineStage.objects.filter(pk=value).values_list("name", flat=True).first()
    if field == "assignee":
        return str(CrmUser.objects.filter(pk=value).first() or "")
    if field == "lost_reason":
        return LostReason.objects.filter(pk=value).values_list("name", flat=True).first()
    if field == "contact":
        return str(Contact.objects.filter(pk=value).first() or "")
    return value


def opportunity_plan_change(
    *, opportunity: Opportunity, name: str | None = None, stage: PipelineStage | None = None,
    status: str | None = None, monetary_value: Any = None, lost_reason: LostReason | None = None,
    assignee: CrmUser | None = None, custom_properties: dict[str, Any] | None = None,
) -> dict[str, Change]:
    """{field: Change} that the change would make (only what differs); `ValidationError` for bad input.
    ``custom_properties`` sets the named keys (``None`` or "" empties one) and leaves the others; a custom
    change is named ``custom_properties.<key>``."""
    org_id = opportunity.organization_id
    for label, row in (("stage", stage), ("lost_reason", lost_reason), ("assignee", assignee)):
        if row is not None and (row.organization_id != org_id or row.is_archived):
            raise ValidationError({label: f"That {label.replace('_', ' ')} is not one of this organization's."})
    if stage is not None and stage.pipeline.is_archived:
        raise ValidationError({"stage": "That stage's pipeline is archived."})
    if status is not None and status not in STATUSES:
        raise ValidationError({"status": f"Status must be one of {', '.join(STATUSES)}."})
    if name is not None and not name.strip():
        raise ValidationError({"name": "An opportunity needs a name."})
    if custom_properties is not None:
        if not isinstance(custom_properties, dict) or any(
                not isinstance(k, str) or not k.strip() or isinstance(v, dict) for k, v in custom_properties.items()):
            raise ValidationError({"custom_properties": "Custom properties are {key: value} with plain values."})
        custom_properties = _custom_properties_clean(opportunity, custom_properties)
    before = opportunity_values(opportunity, custom_keys=list(custom_properties or {}))
    after = dict(before)
    for key, value in (custom_properties or {}).items():
        after[f"{CUSTOM_PREFIX}{key}"] = None if value in ("", None, []) else value
    if name is not None:
        after["name"] = name.strip()[:255]
    if stage is not None:
        after["stage"] = stage.pk
    if status is not None:
        after["status"] = status
        if status != Opportunity.Status.LOST:
            after["lost_reason"] = None
    if lost_reason is not None:
        if (status or opportunity.status) != Opportunity.Status.LOST:
            raise ValidationError({"lost_reason": "A lost reason is only for a lost opportunity: set status to lost."})
        after["lost_reason"] = lost_reason.pk
    if monetary_value is not None:
        after["monetary_value"] = str(monetary_value_clean(monetary_value))
    if assignee is not None:
        after["assignee"] = assignee.pk
    return {f: Change(f, before[f], after[f], _shown(f, before[f]), _shown(f, after[f]))
            for f in after if after[f] != before[f]}


def _custom_properties_clean(opportunity: Opportunity, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each edited custom property checked and normalised by the type and allowed values (a GHL
    picklist) of its field mapping; a key no mapping knows, an emptied one or one left as it is goes as given.
    `ValidationError` keyed ``custom_properties.<key>``."""
    definitions = opportunity_custom_field_definitions(organization=opportunity.organization)
    held = opportunity.custom_properties or {}
    cleaned, errors = dict(values), {}
    for key, value in values.items():
        if key not in definitions or value in ("", None, []) or held.get(key) == value:
            continue
        try:
            cleaned[key] = custom_field_value_clean(value, definitions[key],
                                                    region=opportunity.organization.default_phone_region)
        except ValueError as exc:
            reason = str(exc)
            errors[f"{CUSTOM_PREFIX}{key}"] = [f"{reason[:1].upper()}{reason[1:]}."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def opportunity_change(*, opportunity: Opportunity, **changes: Any) -> dict[str, Change]:
    """Apply a change planned as `opportunity_plan_change` (same arguments); returns what changed."""
    with transaction.atomic():
        opp = Opportunity.objects.select_for_update().get(pk=opportunity.pk)
        raw = opportunity_plan_change(opportunity=opp, **changes)
        if not raw:
            return {}
        before = opportunity_values(opp)
        now = timezone.now()
        for field, change in raw.items():  # a stage of another pipeline moves the deal there
            opportunity_set_value(opp, field, change.new)
        if "stage" in raw:
            opp.stage_changed_at = now
        if "status" in raw:
            opp.status_changed_at = now
        opp.save()
        outbox_record(obj=opp, fields=list(raw))
        opportunity_announce_changes(opportunity=opp, before=before)
        opportunity.refresh_from_db()
    return raw


def opportunity_open(
    *, organization: Organization, name: str, contact: Contact, pipeline: Pipeline,
    stage: PipelineStage | None = None, monetary_value: Any = 0, currency: str | None = None,
    assignee: CrmUser | None = None,
) -> Opportunity:
    """Create an open opportunity here and queue its creation in the CRM (stage: the pipeline's first; currency:
    the CRM account's, `crm.currency.currency_for`)."""
    if contact.organization_id != organization.pk or contact.is_archived:
        raise ValidationError({"contact": "That contact is not one of this organization's."})
    if pipeline.is_archived:
        raise ValidationError({"pipeline": "That pipeline is archived."})
    if stage is not None and stage.is_archived:
        raise ValidationError({"stage": "That stage is archived."})
    if not name.strip():
        raise ValidationError({"name": "An opportunity needs a name."})
    with transaction.atomic():
        opp = opportunity_create(organization=organization, name=name.strip()[:255], pipeline=pipeline, stage=stage,
                                 contact=contact, monetary_value=monetary_value,
                                 currency=currency or currency_for(organization))
        if assignee is not None:
            opp.assignee = assignee
            opp.save(update_fields=["assignee", "updated_at"])
        opp.stage_changed_at = opp.status_changed_at = timezone.now()
        opp.save(update_fields=["stage_changed_at", "status_changed_at", "updated_at"])
        outbox_record(obj=opp, fields=list(SYNCED_FIELDS))
    return opp
