"""What the Appointment* webhook handler calls so the next free-slots read asks GHL again."""
from crm.models import Calendar
from crm.selectors.external_ids import local_object_for_external_id
from crm.services.free_slots import calendar_free_slots_invalidate

from .backend import PROVIDER


def calendar_free_slots_invalidate_for_ghl(*, location_id: str, calendar_external_id: str) -> bool:
    """Drop the cached free slots of the local calendar linked to GHL's ``calendarId``; False when none is."""
    calendar = local_object_for_external_id(
        model=Calendar, provider=PROVIDER, account_id=location_id, external_id=calendar_external_id
    )
    if calendar is None:
        return False
    calendar_free_slots_invalidate(calendar=calendar)
    return True
