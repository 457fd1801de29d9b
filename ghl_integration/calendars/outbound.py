"""Local appointment details pushed to GHL: the appointment kind's pusher (`ghl_integration.sync.push`).

An outbox entry of an appointment names the details changed here (`crm.services.appointment_changes`): title,
notes (GHL's ``description``, as the booking command writes them) and status (``appointmentStatus``). The push is
one ``PUT /calendars/events/appointments/{id}`` built from the appointment's *current* values (a repeated push sends
the same body: idempotent), then a ``GET`` that verifies GHL kept them and moves the link's watermark to GHL's
``dateUpdated``, so a delayed webhook about an older state cannot undo the change; the webhook our own push causes
carries the same values and changes nothing. An appointment GHL does not know (no link) has nothing to update.
"""
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.models import Appointment, ExternalIdentity
from crm.services.appointment_sync import appointment_remote_observed
from crm.sync.models import OutboxEntry
from crm.sync.outbox import outbox_mark_done

from ..sync.push import PROVIDER, KindPusher
from .shape import remote_appointment_from_ghl

# local detail -> GHL's field in AppointmentEditSchema (REFERENCE.md §f)
GHL_FIELDS = {"title": "title", "notes": "description", "status": "appointmentStatus"}


class AppointmentPusher(KindPusher):
    model = Appointment
    noun = "appointment"

    def push(self, entry: OutboxEntry, appointment: Appointment) -> None:
        link = ExternalIdentity.objects.for_org(appointment.organization_id).filter(
            provider=PROVIDER, account_id=self.location_id, object_id=appointment.pk,
            content_type=ContentType.objects.get_for_model(Appointment)).first()
        body = {GHL_FIELDS[name]: getattr(appointment, name) for name in entry.changed_fields if name in GHL_FIELDS}
        if link is None or not body:
            # Appointments reach GHL only through the booking commands; nothing here to update.
            outbox_mark_done(entry=entry, connection_id=self.connection.pk)
            self.stats.unchanged += 1
            return
        self.client.calendars.update_appointment(link.external_id, body)
        asked_at = timezone.now()
        kept = remote_appointment_from_ghl(self.client.calendars.get_appointment(link.external_id),
                                           observed_at=asked_at)
        differs = [name for name in entry.changed_fields if name in GHL_FIELDS and name != "notes"
                   and _remote_value(kept, name) != getattr(appointment, name)]
        if differs:
            self.fail(entry, f"GHL did not keep the appointment's {', '.join(differs)}", retryable=True)
            return
        outbox_mark_done(entry=entry, connection_id=self.connection.pk)
        appointment_remote_observed(appointment=appointment, provider=PROVIDER, account_id=self.location_id,
                                    remote=kept)
        self.stats.updated += 1


def _remote_value(remote, name: str):
    return {"title": remote.title, "status": remote.status}[name]
