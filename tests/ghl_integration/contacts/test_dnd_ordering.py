"""Per-channel DND from GHL through the real webhook path (sandbox → inbox → apply): a compliance field, so an
opt-out must never be lost to the ContactUpdate GHL sends beside it, nor to reconciliation's unchanged-page skip.

GHL's per-channel DND (`dndSettings`) comes only in ContactDndUpdate and in reads; ContactUpdate carries the
top-level `dnd` but no `dndSettings`. The two are delivered with the same (or a near) `timestamp`."""
import datetime as dt
import json

import pytest

from crm.sync.models import OutboxEntry, SyncConflict
from ghl_integration.contacts.pull import contacts_initial_pull
from ghl_integration.contacts.reconcile import contacts_reconcile
from tests.ghl_integration.webhooks.conftest import compact, sign_ed25519

from .conftest import assert_identical, deliver, ghl_contacts, local_by_external_id

pytestmark = pytest.mark.django_db

SMS_STOP = {"SMS": {"status": "active", "message": "Contact replied STOP", "code": "21610"}}


def _restamped(item: dict, at: dt.datetime) -> dict:
    """A recorded delivery with its `timestamp` set to ``at`` (re-signed with the sandbox's dev key)."""
    payload = {**json.loads(item["body"]), "timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    body = compact(payload)
    return {"body": body, "headers": {"x-ghl-signature": sign_ed25519(body)}}


def _dnd_change(ghl, receiver, contact_id: str, dnd_settings: dict) -> tuple[dict, dict]:
    """Change the contact's per-channel DND in GHL; its (ContactUpdate, ContactDndUpdate) deliveries."""
    receiver.received.clear()
    ghl.control.change_contact("dnd", contactId=contact_id, dndSettings=dnd_settings)
    assert ghl.control.wait_webhooks()
    by_type = {item["json"]["type"]: item for item in receiver.received}
    assert set(by_type) == {"ContactUpdate", "ContactDndUpdate"}
    return by_type["ContactUpdate"], by_type["ContactDndUpdate"]


@pytest.mark.parametrize("update_later_ms", [0, 3], ids=["same-timestamp", "update-3ms-later"])
@pytest.mark.parametrize("update_first", [True, False], ids=["update-first", "dnd-first"])
def test_an_sms_opt_out_survives_the_contact_update_sent_with_it(ghl, connection, receiver, update_first,
                                                                  update_later_ms):
    # given: a pulled location; the contact replies STOP in GHL (SMS DND on, the all-channels `dnd` stays off)
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    update, dnd = _dnd_change(ghl, receiver, contact_id, SMS_STOP)
    at = dt.datetime.fromisoformat(dnd["json"]["timestamp"])
    dnd = _restamped(dnd, at)
    update = _restamped(update, at + dt.timedelta(milliseconds=update_later_ms))

    # when: both are delivered, in either order
    statuses = deliver([update, dnd] if update_first else [dnd, update])

    # then: the opt-out is here at once, not 15 minutes later
    assert statuses == ["processed", "processed"]
    local = local_by_external_id(connection)[contact_id]
    assert (local.dnd_sms, local.dnd_all, local.dnd_email) == (True, False, False)
    assert local.is_reachable_on("sms") is False
    assert_identical(ghl, connection)


def test_a_late_older_dnd_event_does_not_undo_a_newer_one(ghl, connection, receiver):
    # given: SMS DND on, then off again (two ContactDndUpdates)
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    _, opted_out = _dnd_change(ghl, receiver, contact_id, SMS_STOP)
    update, opted_in = _dnd_change(ghl, receiver, contact_id, {"SMS": {"status": "inactive"}})

    # when: the newer one (and its ContactUpdate) arrive first, the older one late
    assert deliver([update, opted_in, opted_out]) == ["processed"] * 3

    # then: the newer state stands
    assert local_by_external_id(connection)[contact_id].dnd_sms is False
    assert_identical(ghl, connection)


def test_an_older_contact_update_does_not_hold_back_a_dnd_change_but_keeps_its_own_fields_out(
        ghl, connection, receiver):
    # given: a city change, then SMS DND on; the DND event arrives first, then the older ContactUpdate of the city
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    receiver.received.clear()
    ghl.control.change_contact("update", contactId=contact_id, city="Salem")
    assert ghl.control.wait_webhooks()
    (city_update,) = receiver.received
    update, dnd = _dnd_change(ghl, receiver, contact_id, SMS_STOP)

    # when: the newest first (the DND change's ContactUpdate, then its DND event), the city's update last
    assert deliver([update, dnd, city_update]) == ["processed"] * 3

    # then: no conflict was seen (the pull said SMS was off) and nothing goes back to GHL
    local = local_by_external_id(connection)[contact_id]
    assert (local.dnd_sms, local.city) == (True, "Salem")
    assert not SyncConflict.objects.exists() and not OutboxEntry.objects.exists()
    assert_identical(ghl, connection)


def test_reconciliation_repairs_a_dnd_change_whose_webhooks_were_lost(ghl, connection):
    # given: a pulled location; GHL's webhooks reach nobody; the contact replies STOP
    contacts_initial_pull(connection=connection)
    contact_id = next(iter(ghl_contacts(ghl)))
    ghl.control.webhooks(urls=[])
    ghl.control.change_contact("dnd", contactId=contact_id, dndSettings=SMS_STOP)

    # when
    result = contacts_reconcile(connection=connection)

    # then: the search result's `dndSettings` was applied, not skipped as an unchanged contact
    assert result.run.status == "succeeded"
    assert local_by_external_id(connection)[contact_id].dnd_sms is True
    assert_identical(ghl, connection)
