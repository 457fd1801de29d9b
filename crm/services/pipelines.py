"""Pipelines and their stages: made here (the demo) or mirrored from the CRM that owns them."""
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tenancy.models import Organization

from ..models import Contact, ExternalIdentity, Opportunity, Pipeline, PipelineStage
from ..selectors.external_ids import local_object_for_external_id
from ..sync.origin import sync_origin
from .external_ids import external_id_link, external_id_mark_synced


@transaction.atomic
def pipeline_create(*, organization: Organization, name: str, stage_names: Sequence[str]) -> Pipeline:
    if not name.strip():
        raise ValidationError({"name": "A pipeline needs a name."})
    if not stage_names:
        raise ValidationError({"stages": "A pipeline needs at least one stage."})
    pipeline = Pipeline.objects.create(organization=organization, name=name.strip())
    PipelineStage.objects.bulk_create(
        PipelineStage(organization=organization, pipeline=pipeline, name=stage.strip(), position=index)
        for index, stage in enumerate(stage_names)
    )
    return pipeline


def monetary_value_clean(value) -> Decimal:
    """A deal's amount as a two-place `Decimal`; `ValidationError` on ``monetary_value`` for anything that is not
    a finite amount of zero or more (shared by the create and update services)."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError({"monetary_value": f"“{value}” is not an amount."})
    if amount < 0 or not amount.is_finite():
        raise ValidationError({"monetary_value": "The amount must be zero or more."})
    return amount.quantize(Decimal("0.01"))


@transaction.atomic
def opportunity_create(
    *,
    organization: Organization,
    name: str,
    pipeline: Pipeline,
    stage: PipelineStage | None = None,
    contact: Contact | None = None,
    status: str = Opportunity.Status.OPEN,
    monetary_value=0,
    currency: str = "USD",
    source: str = "",
) -> Opportunity:
    for related, label in ((pipeline, "pipeline"), (stage, "stage"), (contact, "contact")):
        if related is not None and related.organization_id != organization.pk:
            raise ValidationError({label: f"That {label} belongs to another organization."})
    stage = stage or pipeline.stages.filter(is_archived=False).order_by("position").first()
    if stage is None or stage.pipeline_id != pipeline.pk:
        raise ValidationError({"stage": "The stage must belong to the opportunity's pipeline."})
    opportunity = Opportunity(
        organization=organization,
        name=name,
        pipeline=pipeline,
        stage=stage,
        contact=contact,
        status=status,
        monetary_value=monetary_value_clean(monetary_value),
        currency=currency.upper(),
        source=source,
    )
    opportunity.full_clean(exclude=["organization", "assignee", "lost_reason"])
    opportunity.save()
    return opportunity


# -- mirrored from a CRM that owns the pipelines' definition ---------------------------------------------------
@dataclass(frozen=True)
class RemoteStage:
    external_id: str
    name: str


def _unlinked_by_name(queryset, name: str, linked_ids: set[int]):
    return next((row for row in queryset if row.pk not in linked_ids and row.name.strip().lower() == name.lower()),
                None)


@transaction.atomic
def pipeline_upsert_from_remote(
    *, organization: Organization, provider: str, account_id: str, external_id: str, name: str,
    stages: Sequence[RemoteStage], connection_id: int | None = None,
) -> Pipeline:
    """Mirror one remote pipeline and its ordered stages.

    A stage renamed there is renamed here; a stage gone there is archived here (its opportunities keep it and
    still show where they are); the order is the remote's. A pipeline or stage made here before the link (the
    demo seed, say) is adopted by name instead of duplicated. Positions are first moved above every current one,
    then set, so a reorder never trips `uniq_stage_position_in_pipeline`.
    """
    pipeline_ct = ContentType.objects.get_for_model(Pipeline)
    stage_ct = ContentType.objects.get_for_model(PipelineStage)
    from .mirrors import mirror_lock

    with sync_origin(provider=provider, account_id=account_id, connection_id=connection_id):
        mirror_lock(provider=provider, account_id=account_id, what="pipelines")
        pipeline = local_object_for_external_id(model=Pipeline, provider=provider, account_id=account_id,
                                                external_id=external_id)
        if pipeline is None:
            linked = set(ExternalIdentity.objects.for_org(organization).filter(
                provider=provider, account_id=account_id, content_type=pipeline_ct).values_list("object_id", flat=True))
            pipeline = _unlinked_by_name(Pipeline.objects.for_org(organization), name, linked)
            if pipeline is None:
                pipeline = Pipeline.objects.create(organization=organization, name=name.strip()[:200] or external_id)
            external_id_link(obj=pipeline, provider=provider, account_id=account_id, external_id=external_id,
                             connection_id=connection_id)
        pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        pipeline.name = name.strip()[:200] or pipeline.name
        pipeline.is_archived, pipeline.archived_at = False, None
        pipeline.save()

        current = list(PipelineStage.objects.filter(pipeline=pipeline).order_by("position", "id"))
        links = dict(ExternalIdentity.objects.for_org(organization).filter(
            provider=provider, account_id=account_id, content_type=stage_ct,
            object_id__in=[s.pk for s in current]).values_list("external_id", "object_id"))
        by_id = {s.pk: s for s in current}
        claimed: set[int] = set()
        ordered: list[PipelineStage] = []
        for remote in stages:
            stage = by_id.get(links.get(remote.external_id, -1))
            if stage is None:
                stage = _unlinked_by_name(current, remote.name, set(links.values()) | claimed)
            if stage is None:
                # A stage of another pipeline (moved there) or a new one: a new row keeps the other's history.
                stage = PipelineStage(organization=organization, pipeline=pipeline)
            stage.name = remote.name.strip()[:200] or remote.external_id
            stage.is_archived, stage.archived_at = False, None
            ordered.append(stage)
            if stage.pk:
                claimed.add(stage.pk)
        now = timezone.now()
        leftovers = [s for s in current if s.pk not in claimed]
        for stage in leftovers:
            if not stage.is_archived:
                stage.is_archived, stage.archived_at = True, now
        # Out of the way first (every new value above every old one, so no row collides mid-statement) ...
        top = max([s.position for s in current] + [len(ordered) + len(leftovers)]) + 1
        PipelineStage.objects.filter(pipeline=pipeline).update(position=F("position") + top)
        # ... then the final order: the remote's stages, then the archived ones.
        for position, stage in enumerate([*ordered, *leftovers]):
            stage.position = position
            stage.save()
        for remote, stage in zip(stages, ordered, strict=True):
            if links.get(remote.external_id) != stage.pk:
                ExternalIdentity.objects.filter(provider=provider, account_id=account_id, content_type=stage_ct,
                                                object_id=stage.pk).exclude(external_id=remote.external_id).delete()
                external_id_link(obj=stage, provider=provider, account_id=account_id, external_id=remote.external_id,
                                 connection_id=connection_id)
        external_id_mark_synced(obj=pipeline, provider=provider, account_id=account_id)
    return pipeline


def pipeline_active_stages(*, pipeline: Pipeline) -> list[PipelineStage]:
    return list(pipeline.stages.filter(is_archived=False).order_by("position", "id"))
