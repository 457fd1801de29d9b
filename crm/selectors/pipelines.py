"""Reads for the pipeline board: one pipeline's stages as columns with their deals, counts and totals."""
from dataclasses import dataclass, field
from decimal import Decimal

from tenancy.models import Organization

from ..models import Opportunity, Pipeline, PipelineStage

STATUS_FILTERS = ("open", "won", "lost", "abandoned", "all")
CARDS_PER_COLUMN = 200  # a column shows its first deals (by value); its count and total cover all of them


@dataclass
class BoardColumn:
    stage: PipelineStage
    count: int = 0
    total: Decimal = Decimal("0.00")
    cards: list[Opportunity] = field(default_factory=list)


def pipelines_for_board(*, organization: Organization) -> list[Pipeline]:
    return list(Pipeline.objects.for_org(organization).filter(is_archived=False).order_by("name", "id"))


def pipeline_board(*, organization: Organization, pipeline: Pipeline, status: str = "open") -> list[BoardColumn]:
    """The pipeline's live stages in order, then archived stages that still hold deals of this filter."""
    deals = (Opportunity.objects.for_org(organization).filter(pipeline=pipeline, is_archived=False)
             .select_related("contact", "assignee", "stage").order_by("-monetary_value", "name", "id"))
    if status != "all":
        deals = deals.filter(status=status)
    columns = {s.pk: BoardColumn(s) for s in
               PipelineStage.objects.filter(pipeline=pipeline, is_archived=False).order_by("position", "id")}
    for deal in deals:
        column = columns.get(deal.stage_id)
        if column is None:  # a stage removed in the CRM: its deals still show where they are
            column = columns[deal.stage_id] = BoardColumn(deal.stage)
        column.count += 1
        column.total += deal.monetary_value
        if len(column.cards) < CARDS_PER_COLUMN:
            column.cards.append(deal)
    return list(columns.values())
