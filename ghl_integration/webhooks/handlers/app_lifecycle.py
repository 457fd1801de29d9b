"""App lifecycle events ("AppInstall", "AppUninstall", "PlanChange" webhook docs): `type` is `INSTALL`,
`UNINSTALL`, `PLAN_CHANGE`.

These are dispatched even when no active connection exists for the location (an INSTALL arrives before the
connection does; an agency-level UNINSTALL has no `locationId`). No handler yet: the OAuth/installation issue
registers them here.
"""

from .base import HandlerRegistry

EVENTS = ("INSTALL", "UNINSTALL", "PLAN_CHANGE")

registry = HandlerRegistry("app_lifecycle", events=EVENTS)
