"""Outbox entries go to their kind's pusher; a kind without one waits, pending, and is never given up on."""
import logging

import pytest

from crm.models import ExternalIdentity, Opportunity, Pipeline, PipelineStage
from crm.services.contacts import contact_create
from crm.sync.models import OutboxEntry
from crm.sync.outbox import MAX_PUSH_ATTEMPTS, outbox_mark_done, outbox_record
from ghl_integration.sync import push as push_engine
from ghl_integration.sync import push_tasks as tasks
from ghl_integration.sync.push import KindPusher, outbox_push_pending, outbox_push_sweep
from ghl_sandbox import constants as sbx

from .conftest import LOCATION_ID

pytestmark = pytest.mark.django_db(transaction=True)


class ToyOpportunityPusher(KindPusher):
    """Creates the opportunity in GHL's demo pipeline, for the contact it belongs to."""

    model = Opportunity
    noun = "opportunity"

    def push(self, entry, opportunity):
        contact_link = ExternalIdentity.objects.get(provider="ghl", account_id=self.location_id,
                                                    object_id=opportunity.contact_id)
        remote = self.client.opportunities.create({
            "name": opportunity.name, "status": opportunity.status, "pipelineId": sbx.DEMO_PIPELINE_ID,
            "contactId": contact_link.external_id,
        })
        self.stats.created += 1
        outbox_mark_done(entry=entry, remote_id=remote["id"], connection_id=self.connection.pk)


@pytest.fixture(autouse=True)
def opportunity_pusher(monkeypatch):
    """Opportunities stand for "a kind without a pusher": the real one is taken away for the test (and put back
    after it); calling the fixture's value registers the toy one."""
    monkeypatch.setattr(push_engine, "_pushers", {k: v for k, v in push_engine._pushers.items()
                                                  if k != Opportunity._meta.label_lower})
    return lambda: push_engine.register_pusher(ToyOpportunityPusher)


@pytest.fixture
def queued(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks.outbox_push_pending_task, "delay", lambda connection_id: calls.append(connection_id))
    return calls


def _opportunity_edited_locally(org, contact) -> Opportunity:
    pipeline = Pipeline.objects.create(organization=org, name="Sales")
    stage = PipelineStage.objects.create(organization=org, pipeline=pipeline, name="New", position=0)
    opportunity = Opportunity.objects.create(organization=org, name="Implants", contact=contact, pipeline=pipeline,
                                             stage=stage)
    outbox_record(obj=opportunity, fields=["name", "status"], targets=[("ghl", LOCATION_ID)])
    return opportunity


def test_an_entry_of_a_kind_without_a_pusher_stays_pending_then_is_pushed_once_one_is_registered(
        ghl, connected, opportunity_pusher, queued, caplog):
    # given: a contact and an opportunity of it, both edited here
    org = connected.organization
    contact = contact_create(organization=org, first_name="Ada", email="ada@example.com")
    opportunity = _opportunity_edited_locally(org, contact)
    # when: the worker drains the location, more often than a failing entry would be tried
    with caplog.at_level(logging.WARNING, logger="ghl_integration.sync.push"):
        counts = [outbox_push_pending(connection_id=connected.pk) for _ in range(MAX_PUSH_ATTEMPTS + 1)]
    # then: the contact went out; the opportunity waits, untouched and saying why
    assert counts[0]["created"] == 1 and counts[0]["failed"] == 0
    waiting = OutboxEntry.objects.get(object_id=opportunity.pk, content_type__model="opportunity")
    assert (waiting.status, waiting.attempts) == ("pending", 0)
    assert "no GHL pusher" in waiting.last_error
    held = [r for r in caplog.records if r.getMessage() == "ghl.sync.push.no-pusher"]
    assert held and held[0].pending_by_kind == {"crm.opportunity": 1}
    assert all(o["name"] != "Implants" for o in ghl.control.objects("opportunity", location_id=LOCATION_ID))
    # and the sweep queues no push for a location whose only due entries nobody can push
    assert outbox_push_sweep() == 0 and queued == []

    # when: a release registers the opportunity kind's pusher
    opportunity_pusher()
    assert outbox_push_sweep() == 1 and queued == [connected.pk]
    counts = outbox_push_pending(connection_id=connected.pk)
    # then: the waiting entry is pushed to GHL and linked
    assert counts["created"] == 1 and counts["failed"] == 0
    waiting.refresh_from_db()
    assert waiting.status == "done" and waiting.remote_id
    remote = ghl.control.objects("opportunity", waiting.remote_id)
    assert remote["name"] == "Implants"
    assert ExternalIdentity.objects.get(object_id=opportunity.pk, content_type__model="opportunity").external_id \
        == waiting.remote_id


def test_an_entry_whose_local_record_is_not_found_fails_naming_its_kind(ghl, connected, opportunity_pusher):
    opportunity_pusher()
    org = connected.organization
    contact = contact_create(organization=org, first_name="Bo", email="bo@example.com")
    opportunity = _opportunity_edited_locally(org, contact)
    OutboxEntry.objects.filter(object_id=opportunity.pk, content_type__model="opportunity").update(
        object_id=opportunity.pk + 10_000)  # rows are never deleted; an id of nothing stands in for a lost row

    outbox_push_pending(connection_id=connected.pk)

    entry = OutboxEntry.objects.get(content_type__model="opportunity")
    assert entry.status == "dead" and entry.last_error == "the local opportunity no longer exists"


def test_registering_a_kind_twice_is_refused(opportunity_pusher):
    opportunity_pusher()
    with pytest.raises(ValueError, match="crm.opportunity"):
        push_engine.register_pusher(ToyOpportunityPusher)
