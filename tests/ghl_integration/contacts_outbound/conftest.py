"""Fixtures for outbound contact sync: the push worker's (an organisation connected to the sandbox's demo
location, whose pushes the test drives; `tests/ghl_integration/sync/conftest.py`) and contact helpers."""
from tests.ghl_integration.sync.conftest import (  # noqa: F401  (fixtures)
    LOCATION_ID,
    connected,
    contact_writes,
    ghl,
    no_notifier,
    owner,
    resolver,
)


def ghl_contact(sandbox, contact_id: str) -> dict:
    return sandbox.control.objects("contact", contact_id)
