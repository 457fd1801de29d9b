"""Local opportunity changes to GHL: the outbox pusher of the opportunity kind (`ghl_integration.sync.push`).

* unlinked → ``POST /opportunities/`` with every field (a retry after a lost answer first looks for the deal
  that request may have made: same contact, pipeline and name; GHL refuses a second deal of one contact in one
  pipeline, which is then a clear rejection, not a duplicate);
* linked → ``GET`` the deal and merge it first (`opportunity_apply_from_remote`: a field changed on both sides
  since the last sync is decided by the connection's conflict policy; one GHL won is not sent), then the status
  through ``PUT /opportunities/{id}/status`` (the only call that takes a lost reason) and the other fields
  through ``PUT /opportunities/{id}``; a final read confirms what GHL holds and its ``updatedAt`` becomes the
  watermark, so the webhooks of our own change are stale when they come.
Every request is built from the deal's current values: a repeated push does no harm.
"""
import logging
import time
from typing import Any

from crm.models import ExternalIdentity, LostReason, Opportunity
from crm.selectors.external_ids import external_id_for_object
from crm.services.opportunity_sync import (
    SYNCED_FIELDS,
    opportunity_apply_from_remote,
    opportunity_values,
    remote_opportunity_values,
)
from crm.sync.hashing import canonical
from crm.sync.mapping import CUSTOM_PREFIX as LOCAL_CUSTOM_PREFIX
from crm.sync.mapping import record_subject, to_local_value
from crm.sync.models import DataType, OutboxEntry
from crm.sync.outbox import outbox_mark_done

from ..contacts.shape import CUSTOM_PREFIX
from ..sync.push import KindPusher
from ..timestamps import parse_ghl_time
from .inbound import OpportunityResolver, UnknownReference, opportunity_read_mark
from .mirror import PROVIDER
from .shape import money_out

logger = logging.getLogger(__name__)

DELETE_POLICY_KEY = "delete_policy"  # shared with contacts: "keep" (default) leaves the GHL deal of an archived one


class NotInGhlYet(Exception):
    """A row the deal points at (its contact, pipeline, stage, assignee) has no GHL id: retry later."""


class OpportunityPusher(KindPusher):
    model = Opportunity
    noun = "opportunity"

    def __init__(self, drain):
        super().__init__(drain)
        self.resolver = OpportunityResolver(self.connection, self.client)

    def _ext(self, obj, label: str, *, required: bool = True) -> str | None:
        if obj is None:
            return None
        external_id = external_id_for_object(obj=obj, provider=PROVIDER, account_id=self.location_id)
        if external_id is None and required:
            raise NotInGhlYet(f"the {label} {obj} is not in GHL yet")
        return external_id

    def push(self, entry: OutboxEntry, obj: Opportunity) -> None:
        try:
            link = ExternalIdentity.objects.filter(provider=PROVIDER, account_id=self.location_id,
                                                   content_type_id=entry.content_type_id, object_id=obj.pk).first()
            if obj.is_archived:
                self._archived(entry, obj, link)
            elif link is None:
                self._create(entry, obj)
            else:
                self._update(entry, obj, link.external_id)
        except NotInGhlYet as exc:  # its contact's own push is usually seconds behind
            self.fail(entry, str(exc), retryable=True)
        except UnknownReference as exc:
            self.fail(entry, str(exc), retryable=False)

    # -- the body ------------------------------------------------------------------------------------------
    def _body(self, opp: Opportunity, fields: set[str]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if "name" in fields:
            body["name"] = opp.name
        if "stage" in fields:
            body["pipelineId"] = self._ext(opp.pipeline, "pipeline")
            body["pipelineStageId"] = self._ext(opp.stage, "stage")
        if "monetary_value" in fields:
            body["monetaryValue"] = money_out(opp.monetary_value)
        if "assignee" in fields:
            body["assignedTo"] = self._ext(opp.assignee, "user") if opp.assignee_id else None
        if "source" in fields and opp.source:
            body["source"] = opp.source
        custom = self._custom_fields(opp, fields)
        if custom:
            body["customFields"] = custom
        return body

    def _custom_fields(self, opp: Opportunity, fields: set[str]) -> list[dict[str, Any]]:
        """The outbound-mapped custom properties among ``fields`` (``custom_properties``: all of them) as GHL's
        ``customFields`` write form; a value its type refuses is not sent and is recorded on its mapping row."""
        mapping = self.resolver.mapping()
        wanted = {f for f in fields if f.startswith(LOCAL_CUSTOM_PREFIX)} | (
            {"custom_properties"} if "custom_properties" in fields else set())
        if not wanted:
            return []
        values = mapping.to_remote(opp, wanted)
        if mapping.errors:
            mapping.record_errors(subject=record_subject(opp, noun="opportunity"))
        return [{"id": key[len(CUSTOM_PREFIX):], "field_value": value} for key, value in values.items()
                if key.startswith(CUSTOM_PREFIX)]

    def _outbound_custom_names(self) -> set[str]:
        return {s.local_field for s in self.resolver.mapping().specs
                if s.outbound and s.local_field.startswith(LOCAL_CUSTOM_PREFIX)}

    def _expand(self, fields) -> set[str]:
        """The outbox's field names with ``custom_properties`` as each outbound-mapped custom property."""
        names = set(fields)
        if "custom_properties" in names:
            names.discard("custom_properties")
            names |= self._outbound_custom_names()
        return names

    def _lost_reason_id(self, opp: Opportunity) -> str | None:
        if opp.status != Opportunity.Status.LOST or opp.lost_reason_id is None:
            return None
        return self._ext(LostReason.objects.get(pk=opp.lost_reason_id), "lost reason")

    # -- create --------------------------------------------------------------------------------------------
    def _create(self, entry: OutboxEntry, opp: Opportunity) -> None:
        contact_id = self._ext(opp.contact, "contact") if opp.contact_id else None
        if contact_id is None:
            self.fail(entry, "GHL needs a contact for every opportunity; this one has none", retryable=False)
            return
        pipeline_id = self._ext(opp.pipeline, "pipeline")
        existing = None
        if entry.attempts > 1:  # a lost answer may have created it: look before creating another
            page = self.client.opportunities.search(contact_id=contact_id, pipeline_id=pipeline_id, status="all")
            existing = next((o for o in page.get("opportunities") or []
                             if (o.get("name") or "").strip().lower() == opp.name.strip().lower()), None)
        if existing is None:
            body = {k: v for k, v in self._body(opp, set(SYNCED_FIELDS)).items() if v is not None}
            if body.get("customFields"):  # a new deal has nothing to clear in GHL
                body["customFields"] = [f for f in body["customFields"] if f["field_value"] not in (None, "", [])]
            body.update(contactId=contact_id, status=opp.status)
            created = self.client.opportunities.create(body)
            self.stats.created += 1
            ghl_id = created["id"]
        else:
            ghl_id = existing["id"]
            self.stats.linked += 1
        if opp.status == Opportunity.Status.LOST and opp.lost_reason_id:
            self.client.opportunities.update_status(ghl_id, "lost", lost_reason_id=self._lost_reason_id(opp))
        if existing is not None:  # bring the found deal to our values
            self.client.opportunities.update(ghl_id, self._body(opp, set(SYNCED_FIELDS) - {"custom_properties"}))
        self._done(entry, ghl_id, sent=self._ours(opp, self._expand(SYNCED_FIELDS)))

    def _ours(self, opp: Opportunity, names: set[str]) -> dict[str, Any]:
        """Our values of ``names`` (snapshot form), custom properties by key."""
        keys = [n[len(LOCAL_CUSTOM_PREFIX):] for n in names if n.startswith(LOCAL_CUSTOM_PREFIX)]
        values = opportunity_values(opp, custom_keys=keys)
        types = {s.local_field: s.data_type for s in self.resolver.mapping().specs}
        out = {}
        for name in names:
            if name not in values:
                continue
            out[name] = values[name]
            if name in types and types[name] != DataType.REFERENCE:  # as GHL's value reads back ("5" is 5)
                try:
                    out[name] = canonical(to_local_value(values[name], types[name]))
                except ValueError:
                    pass
                if out[name] in ("", []):
                    out[name] = None
        return out

    # -- update --------------------------------------------------------------------------------------------
    def _update(self, entry: OutboxEntry, opp: Opportunity, ghl_id: str) -> None:
        current = self.client.opportunities.get(ghl_id)
        merged = opportunity_apply_from_remote(
            organization=self.connection.organization, provider=PROVIDER, account_id=self.location_id,
            remote=self.resolver.remote(current), connection_id=self.connection.pk)
        if merged.outcome == "conflicted":
            self.stats.conflicts += 1
        opp.refresh_from_db()
        ours = self._ours(opp, self._expand(entry.changed_fields))
        theirs = remote_opportunity_values(self.resolver.remote(current))
        # a custom field GHL's reads are not mapped back from (outbound only) is sent as it is
        fields = {f for f in ours if f not in theirs or ours[f] != theirs[f]}
        if "lost_reason" in fields and opp.status == Opportunity.Status.LOST:
            fields.add("status")
        if not fields:
            self.stats.unchanged += 1
            self._done(entry, ghl_id, sent={}, current=current)
            return
        if "status" in fields:
            self.client.opportunities.update_status(ghl_id, opp.status, lost_reason_id=self._lost_reason_id(opp))
        body = self._body(opp, fields - {"status", "lost_reason", "contact"})
        if body:
            self.client.opportunities.update(ghl_id, body)
        self.stats.updated += 1
        self._done(entry, ghl_id, sent={f: ours[f] for f in fields if f in ours})

    def _archived(self, entry: OutboxEntry, opp: Opportunity, link: ExternalIdentity | None) -> None:
        if link is not None and (self.connection.config or {}).get(DELETE_POLICY_KEY, "keep") == "delete":
            from ..client import GhlNotFound

            try:
                self.client.opportunities.delete(link.external_id)
            except GhlNotFound:
                pass  # already gone: the outcome we wanted
            self.stats.deleted += 1
        outbox_mark_done(entry=entry, connection_id=self.connection.pk)

    # -- confirmation --------------------------------------------------------------------------------------
    def _done(self, entry: OutboxEntry, ghl_id: str, *, sent: dict[str, Any], current: dict | None = None) -> None:
        """Read back what GHL holds (unless just read), check it kept what we ``sent`` (snapshot form; the deal
        may have changed here since, that is the next entry's business) and record it: GHL's values become the
        base of the next merge and its ``updatedAt`` the watermark."""
        read_at = time.time()
        remote = current or self.client.opportunities.get(ghl_id)
        theirs = remote_opportunity_values(self.resolver.remote(remote))
        # what GHL reads back and we map back: a custom field pushed one way only is not read here
        disagree = [f for f, v in sent.items() if f in theirs and theirs[f] != v]
        if disagree:
            logger.warning("ghl.sync.opportunity.not-kept", extra={"entry_id": entry.pk, "fields": disagree})
            self.fail(entry, f"GHL did not keep {', '.join(disagree)} as sent", retryable=True)
            return
        agreed = theirs
        outbox_mark_done(entry=entry, remote_id=ghl_id, connection_id=self.connection.pk, remote_values=agreed,
                         remote_updated_at=parse_ghl_time(remote.get("updatedAt")))
        if current is None:  # our own write's echoes are then known without the confirming read
            opportunity_read_mark(connection=self.connection, external_id=ghl_id, started_at=read_at)

