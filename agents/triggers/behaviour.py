"""Behaving like a good employee: the checks a trigger's agent passes before it acts on an event.

Per agent (`Agent` fields, sensible defaults): stand down on a conversation for `takeover_minutes` after a person
replied from GHL; act only in `business_hours` (else `off_hours`: wait for the opening, answer anyway, or do
nothing); at most `max_runs_per_contact_hour` trigger runs per contact. A burst of inbound messages is gathered
for `burst_seconds` before answering once (see `fire.py`).
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.utils import timezone

from ..models import Agent
from ..runner.context import organization_zone
from ..runner.models import AgentRun
from .models import HumanTakeover

WEEK = 7


@dataclass(frozen=True)
class Verdict:
    go: bool
    reason: str = ""
    wait_until: datetime | None = None  # not now, but then


def _parse(hhmm: str) -> time:
    hour, minute = (int(p) for p in str(hhmm).split(":"))
    return time(hour, minute)


def next_opening(agent: Agent, *, now: datetime) -> datetime | None:
    """None when `now` is inside the agent's business hours (or it has none), else the next opening."""
    hours = agent.business_hours or []
    if not hours:
        return None
    zone = organization_zone(agent.organization)
    local = now.astimezone(zone)
    for offset in range(WEEK + 1):
        day = local.date() + timedelta(days=offset)
        weekday = (day.weekday() + 1) % 7  # 0 = Sunday, as the calendars' open hours
        for block in hours:
            if weekday not in block.get("days", []):
                continue
            opens = datetime.combine(day, _parse(block["open"]), tzinfo=zone)
            closes = datetime.combine(day, _parse(block["close"]), tzinfo=zone)
            if offset == 0 and opens <= local < closes:
                return None
            if opens > local:
                return opens
    return None


def check(*, agent: Agent, contact_id: int | None, now: datetime | None = None) -> Verdict:
    now = now or timezone.now()
    if contact_id is not None:
        takeover = HumanTakeover.objects.for_org(agent.organization_id).filter(contact_id=contact_id).first()
        if takeover and now - takeover.last_human_reply_at < timedelta(minutes=agent.takeover_minutes):
            until = takeover.last_human_reply_at + timedelta(minutes=agent.takeover_minutes)
            return Verdict(False, f"A person replied from GHL at {takeover.last_human_reply_at:%Y-%m-%d %H:%M} UTC; "
                                  f"the agent stands down on this conversation until {until:%H:%M} UTC.")
        recent = AgentRun.objects.for_org(agent.organization_id).filter(
            agent=agent, contact_id=contact_id, source=AgentRun.Source.TRIGGER,
            created_at__gt=now - timedelta(hours=1)).count()
        if recent >= agent.max_runs_per_contact_hour:
            return Verdict(False, f"The agent already ran {recent} times for this contact in the last hour "
                                  f"(cap {agent.max_runs_per_contact_hour}).")
    opening = next_opening(agent, now=now)
    if opening is not None:
        if agent.off_hours == Agent.OffHours.SKIP:
            return Verdict(False, f"Outside business hours (next opening {opening.isoformat()}); off-hours: do "
                                  "nothing.")
        if agent.off_hours == Agent.OffHours.WAIT:
            return Verdict(False, f"Outside business hours; waiting for the opening at {opening.isoformat()}.",
                           wait_until=opening)
    return Verdict(True)


def takeover_record(*, organization_id: int, contact_id: int, at: datetime) -> None:
    """A person (not one of our agents) wrote to this contact from GHL at `at`."""
    row, created = HumanTakeover.objects.get_or_create(organization_id=organization_id, contact_id=contact_id,
                                                       defaults={"last_human_reply_at": at})
    if not created and at > row.last_human_reply_at:
        HumanTakeover.objects.filter(pk=row.pk).update(last_human_reply_at=at)
