"""What the model is told before the instruction: who it is, whose business, where and when it is."""
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from crm.account import CrmAccount, crm_account_for
from crm.models import Calendar
from tenancy.models import Organization

HOUSE_RULES = (
    "Act only through the tools. Find people, deals and calendars by the names you are given; never invent ids. "
    "When a tool answers `ambiguous`, choose among its candidates using what the instruction says about the "
    "person (city, email, phone, company); if nothing in the instruction tells them apart, do not act: say who "
    "the candidates are. When a tool answers an error, follow its hint. Finish with one short sentence saying "
    "what you did."
)


def organization_zone(organization: Organization, *, account: CrmAccount | None = None) -> ZoneInfo:
    """The organization's time zone: its CRM account's (the GHL location's) when known, else its calendars'
    zone when they agree, else UTC. `account`: the `crm_account_for` answer when the caller has it."""
    return organization_zone_and_source(organization, account=account)[0]


def organization_zone_and_source(organization: Organization, *,
                                 account: CrmAccount | None = None) -> tuple[ZoneInfo, str]:
    """`organization_zone` and where it came from: "account", "calendars" or "default"."""
    account = account if account is not None else crm_account_for(organization)
    if account is not None and account.timezone:
        try:
            return ZoneInfo(account.timezone), "account"
        except (ZoneInfoNotFoundError, ValueError):
            pass
    zones = set(Calendar.objects.for_org(organization).active().exclude(timezone="")
                .values_list("timezone", flat=True)[:5])
    try:
        return (ZoneInfo(zones.pop()), "calendars") if len(zones) == 1 else (ZoneInfo("UTC"), "default")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC"), "default"


def system_prompt(*, agent, organization: Organization) -> str:
    zone = organization_zone(organization)
    now = timezone.now().astimezone(zone)
    parts = [
        f"You are {agent.name}, working for {organization.name} in its GoHighLevel account.",
        f"Time zone: {zone.key}. Now: {now:%A %d %B %Y, %H:%M} ({now.date().isoformat()}).",
        HOUSE_RULES,
    ]
    if agent.instructions.strip():
        parts.append(f"Your instructions from {organization.name}:\n{agent.instructions.strip()}")
    return "\n\n".join(parts)
