"""Opportunities, the second kind of record: their field mappings (GHL's opportunity custom fields), conflict
policies and sync runs are keyed ``opportunity``, apart from the contacts'.

The engine's generic record apply is not their path: a deal's standard fields are GHL's own (pipeline, stage,
status, value, contact, assignee, lost reason), resolved to local rows by the provider and applied by
`crm.services.opportunity_sync`. What the engine asks of the kind here is what mappings, policies and staff
overrides of recorded conflicts need: the model (mapped local fields are validated against it), how values are
cleaned and written. Registered from `CrmConfig.ready()`.
"""
from typing import Any

from django.utils import timezone

from tenancy.models import Organization

from ...models import Opportunity
from ...services.opportunity_sync import STANDARD_FIELDS, opportunity_set_value, opportunity_write_values
from ..hashing import canonical
from ..mapping import CUSTOM_PREFIX, split_custom
from . import OPPORTUNITY, SyncKind


def opportunity_clean_remote(organization: Organization,
                             remote: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Custom properties as canonical values; standard fields (snapshot form) kept; anything else refused."""
    custom, standard = split_custom(remote)
    cleaned = {k: canonical(v) for k, v in custom.items()}
    errors = {}
    for name, value in standard.items():
        if name in STANDARD_FIELDS:
            cleaned[name] = value
        else:
            errors[name] = f"{name} is not a synced opportunity field"
    return cleaned, errors


def opportunity_build(organization: Organization, cleaned: dict[str, Any]) -> Opportunity:
    opp = Opportunity(organization=organization)
    for name, value in cleaned.items():
        opportunity_set_value(opp, name, value)
    return opp


def _archive(opp: Opportunity) -> None:
    now = timezone.now()
    Opportunity.objects.filter(pk=opp.pk, is_archived=False).update(is_archived=True, archived_at=now, updated_at=now)


def opportunity_created_fields(keys) -> list[str]:
    return sorted({k if not k.startswith(CUSTOM_PREFIX) else "custom_properties" for k in keys})


OPPORTUNITY_KIND = SyncKind(
    name=OPPORTUNITY,
    model=Opportunity,
    clean=opportunity_clean_remote,
    build=opportunity_build,
    update=opportunity_write_values,
    archive=_archive,
    created_fields=opportunity_created_fields,
    field_policies={},  # every field by the connection's opportunity policy (default: newest wins)
)
