"""Opportunity events ("Opportunity*" webhook docs). No handler yet: the opportunity sync issue registers them."""

from .base import HandlerRegistry

EVENTS = (
    "OpportunityCreate",
    "OpportunityUpdate",
    "OpportunityDelete",
    "OpportunityStageUpdate",
    "OpportunityStatusUpdate",
    "OpportunityMonetaryValueUpdate",
    "OpportunityAssignedToUpdate",
)

registry = HandlerRegistry("opportunities", events=EVENTS)
