from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenancy.models import Organization

from ..models import Contact, Opportunity, Pipeline, PipelineStage


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


def _clean_money(value) -> Decimal:
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
    stage = stage or pipeline.stages.order_by("position").first()
    if stage is None or stage.pipeline_id != pipeline.pk:
        raise ValidationError({"stage": "The stage must belong to the opportunity's pipeline."})
    opportunity = Opportunity(
        organization=organization,
        name=name,
        pipeline=pipeline,
        stage=stage,
        contact=contact,
        status=status,
        monetary_value=_clean_money(monetary_value),
        currency=currency.upper(),
        source=source,
    )
    opportunity.full_clean(exclude=["organization", "assigned_to"])
    opportunity.save()
    return opportunity


@transaction.atomic
def opportunity_move(
    *, opportunity: Opportunity, stage: PipelineStage | None = None, status: str | None = None, monetary_value=None
) -> Opportunity:
    now = timezone.now()
    if stage is not None:
        if stage.organization_id != opportunity.organization_id:
            raise ValidationError({"stage": "That stage belongs to another organization."})
        if stage.pk != opportunity.stage_id:
            opportunity.pipeline_id = stage.pipeline_id
            opportunity.stage = stage
            opportunity.stage_changed_at = now
    if status is not None and status != opportunity.status:
        if status not in Opportunity.Status.values:
            raise ValidationError({"status": f"Status must be one of {', '.join(Opportunity.Status.values)}."})
        opportunity.status = status
        opportunity.status_changed_at = now
    if monetary_value is not None:
        opportunity.monetary_value = _clean_money(monetary_value)
    opportunity.save()
    return opportunity
