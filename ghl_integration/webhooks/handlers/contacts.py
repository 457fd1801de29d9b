"""Contact events (https://highlevel.stoplight.io/docs/integrations/ — "Contact*" webhook docs).

No handler yet: the contact sync issue registers them here, e.g. `@registry.register("ContactCreate")`.
Until then these events are stored and marked `ignored`.
"""

from .base import HandlerRegistry

EVENTS = ("ContactCreate", "ContactUpdate", "ContactDelete", "ContactTagUpdate", "ContactDndUpdate")

registry = HandlerRegistry("contacts", events=EVENTS)
