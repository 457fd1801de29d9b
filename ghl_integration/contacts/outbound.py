"""Outbound contact sync: the contact kind's pusher (see this package's README, "Outbound", for the whole flow).

`push.outbox_push_pending` drains a location's outbox and hands each contact entry to `ContactPusher.push`:

* unlinked → ``POST /contacts/`` (or ``/contacts/upsert``, see `CREATE_MODE_KEY`), then link the id; a create
  refused as a duplicate (400 + ``meta.contactId``) links to that contact and updates it instead;
* linked → ``GET`` (conflict check, `crm.sync.outbound.contact_prepare_push`) unless the policy does not need
  GHL's state or the webhooks have already given it (`ContactPusher._needs_remote_state`), tag diff through the
  tag endpoints, then ``PUT`` with only the changed fields (never ``tags``: PUT replaces the whole list); GHL
  edits the PUT's response reveals on other fields are taken locally (`contact_take_remote_only_changes`);
* archived → ``DELETE`` only when ``connection.config["delete_policy"] == "delete"`` (default: keep).
"""
import logging
from typing import Any

from django.contrib.contenttypes.models import ContentType

from crm.models import Contact, ExternalIdentity
from crm.services.external_ids import ExternalIdConflict
from crm.sync.conflict import Policy, PolicyTable, policy_table_for
from crm.sync.hashing import canonical, content_hash, values_equal
from crm.sync.kinds import CONTACT
from crm.sync.mapping import Mapping, get_local_value, record_subject
from crm.sync.models import OutboxEntry
from crm.sync.outbound import (
    contact_apply_pushed_result,
    contact_prepare_push,
    contact_record_rejected_value,
    contact_take_remote_only_changes,
)
from crm.sync.outbox import outbox_mark_done

from ..client import GhlNotFound, GhlValidationError
from ..sync.push import PROVIDER, KindPusher, PushDrain, outbox_push_pending, validation_messages
from ..timestamps import parse_ghl_time
from ..webhooks.selectors import webhook_events_unapplied_for
from .inbound import WEBHOOK_KEYS
from .mapping import contact_mapping_for
from .shape import CUSTOM_PREFIX, flatten_ghl_contact, ghl_contact_payload

logger = logging.getLogger(__name__)

# connection.config keys (per-connection policy, STYLE §3)
DELETE_POLICY_KEY = "delete_policy"  # "keep" (default): a local archive leaves the GHL contact; "delete"
CREATE_MODE_KEY = "contact_create_mode"  # "create" (default) or "upsert" (for locations allowing duplicates)
CONFLICT_CHECK_KEY = "outbound_conflict_check"  # default True: decide conflicts by policy (GET when needed)
DELETE_POLICIES = ("keep", "delete")


def webhook_hash(mapping: Mapping, flat: dict[str, Any]) -> str:
    """The content hash of a GHL contact as its Contact* webhook would carry it (local names); the same
    field set `inbound.record_from_ghl` hashes, so the webhook our push causes is an echo."""
    shaped = {k: v for k, v in flat.items() if k in WEBHOOK_KEYS or k.startswith(CUSTOM_PREFIX)}
    return content_hash(mapping.to_local(shaped))


class ContactPusher(KindPusher):
    """The contact kind's pusher: the mapping is read once per drain."""

    model = Contact
    noun = "contact"

    def __init__(self, drain: PushDrain):
        super().__init__(drain)
        self.mapping = contact_mapping_for(self.connection)
        self.contact_type = ContentType.objects.get_for_model(Contact, for_concrete_model=True)
        self._policies: PolicyTable | None = None

    @property
    def policies(self) -> PolicyTable:
        if self._policies is None:  # read once per drain, when an update first needs it
            self._policies = policy_table_for(organization=self.connection.organization_id, provider=PROVIDER,
                                              account_id=self.location_id, object_type=CONTACT)
        return self._policies

    def push(self, entry: OutboxEntry, contact: Contact) -> None:
        link = ExternalIdentity.objects.filter(provider=PROVIDER, account_id=self.location_id,
                                               content_type=self.contact_type, object_id=contact.pk).first()
        fields = set(entry.changed_fields)
        if contact.is_archived and "is_archived" in fields:
            if self.connection.config.get(DELETE_POLICY_KEY, "keep") == "delete":
                if link is not None:
                    try:
                        self.client.contacts.delete(link.external_id)
                    except GhlNotFound:
                        pass  # already gone in GHL: the outcome we wanted
                    self.stats.deleted += 1
                outbox_mark_done(entry=entry, connection_id=self.connection.pk)
                return
        fields.discard("is_archived")
        if link is None:
            if contact.is_archived:
                outbox_mark_done(entry=entry, connection_id=self.connection.pk)  # never create what is archived
                return
            self._create(entry, contact)
        else:
            self._update(entry, contact, link.external_id, fields, link=link)

    # -- create / link -----------------------------------------------------------------------------------
    def _create(self, entry: OutboxEntry, contact: Contact) -> None:
        flat = {k: v for k, v in self.mapping.to_remote(contact).items() if v not in (None, "", [])}
        self.mapping.record_errors(subject=record_subject(contact))
        has_key = bool(flat.get("email") or flat.get("phone"))
        mode = self.connection.config.get(CREATE_MODE_KEY, "create")
        # A retry after an ambiguous failure may find the contact the lost request created: upsert matches it.
        if has_key and (mode == "upsert" or entry.attempts > 1):
            self._upsert(entry, contact, flat)
            return
        try:
            remote = self.client.contacts.create(ghl_contact_payload(flat, for_update=False))
        except GhlValidationError as exc:
            if not exc.duplicate_contact_id:
                raise
            # The location refuses duplicates and named the existing contact: that person is ours.
            logger.info("ghl.sync.push.duplicate-linked", extra={"contact_id": contact.pk,
                                                                "ghl_contact_id": exc.duplicate_contact_id})
            self._link_and_update(entry, contact, exc.duplicate_contact_id)
            return
        self.stats.created += 1
        self._done(entry, contact, remote, pushed=set(flat))

    def _upsert(self, entry: OutboxEntry, contact: Contact, flat: dict[str, Any]) -> None:
        tags = flat.pop("tags", None)  # upsert replaces the tag list: tags go through the tag endpoint
        result = self.client.contacts.upsert(ghl_contact_payload(flat, for_update=False))
        remote = result["contact"]
        if tags:
            remote = {**remote, "tags": self.client.contacts.add_tags(remote["id"], tags)}
        if result["new"]:
            self.stats.created += 1
        else:
            self.stats.linked += 1
        sent_phone = flat.get("phone")
        if sent_phone and (remote.get("phone") or "") != sent_phone:
            # GHL matched the email and silently ignored our phone, which belongs to another GHL contact.
            contact_record_rejected_value(
                contact=contact, provider=PROVIDER, account_id=self.location_id, external_id=remote["id"],
                field="phone", local_value=sent_phone, remote_value=remote.get("phone") or "",
            )
            self.stats.conflicts += 1
            logger.warning("ghl.sync.push.upsert-phone-ignored", extra={"contact_id": contact.pk,
                                                                       "ghl_contact_id": remote["id"]})
        self._done(entry, contact, remote, pushed=set(flat) | ({"tags"} if tags else set()))

    def _link_and_update(self, entry: OutboxEntry, contact: Contact, ghl_id: str) -> None:
        all_fields = {s.local_field for s in self.mapping.specs if s.outbound}
        self.stats.linked += 1
        self._update(entry, contact, ghl_id, all_fields, link_now=True)

    # -- update ------------------------------------------------------------------------------------------
    def _needs_remote_state(self, link: ExternalIdentity | None, local_fields: list[str]) -> bool:
        """Must GHL's contact be read before it is written? Only when the policy decides by GHL's values and
        the webhooks have not already given them: a field GHL changed since the last sync can only be known
        from a webhook or a read.

        Not needed: the connection's conflict check is off; every field sent is ``local_wins`` (GHL's value
        changes nothing); or our mirror holds GHL's latest state: a webhook confirmed it after our last write
        (``remote_seen_at``, cleared by every push until its echo returns, and since the connection last
        connected) and no event about the contact waits in the inbox. Tags need no read either way: their diff
        against the last sync goes through the add/remove endpoints, so a tag added in GHL meanwhile survives."""
        if link is None:
            return True  # linked just now: nothing is known of the GHL contact but its id
        if not self.connection.config.get(CONFLICT_CHECK_KEY, True):
            return False
        if all(self.policies.policy_for(name) == Policy.LOCAL_WINS for name in local_fields):
            return False
        if link.remote_seen_at is None:
            return True
        connected_at = self.connection.connected_at
        if connected_at is not None and link.remote_seen_at < connected_at:
            return True  # seen before a reconnect: GHL's events while the location was away were never applied
        return webhook_events_unapplied_for(location_id=self.location_id, object_id=link.external_id)

    def _update(self, entry: OutboxEntry, contact: Contact, ghl_id: str, fields: set[str], *,
                link_now: bool = False, link: ExternalIdentity | None = None) -> None:
        wanted = self.mapping.to_remote(contact, fields)
        self.mapping.record_errors(subject=record_subject(contact))
        if not wanted:
            outbox_mark_done(entry=entry, connection_id=self.connection.pk, remote_id=ghl_id if link_now else None,
                             remote_changed=False)
            self.stats.unchanged += 1
            return
        current = None
        local_fields = [self.mapping.by_remote[k].local_field for k in wanted if k != "tags"]
        if link_now or self._needs_remote_state(link, local_fields):
            current = self.client.contacts.get(ghl_id)
            plan = contact_prepare_push(
                contact=contact, provider=PROVIDER, account_id=self.location_id, connection_id=self.connection.pk,
                fields=local_fields, remote=self.mapping.to_local(flatten_ghl_contact(current)),
                remote_changed_at=parse_ghl_time(current.get("dateUpdated")),
            )
            self.stats.conflicts += len(plan.conflicts)
            contact.refresh_from_db()
            local_fields = plan.push_fields
        flat = self.mapping.to_remote(contact, local_fields)
        remote = current
        tags_pushed = False
        if "tags" in wanted:
            final_tags = self._push_tags(contact, ghl_id, current)
            if final_tags is not None:
                tags_pushed = True
                remote = {**(remote or {"id": ghl_id}), "tags": final_tags}
        body = ghl_contact_payload({k: v for k, v in flat.items() if k != "tags"}, for_update=True)
        if body:  # last, so its dateUpdated marks the end of this push (the watermark, see _done)
            updated = self.client.contacts.update(ghl_id, body)
            if remote is not None and "tags" in remote:
                updated = {**updated, "tags": remote["tags"]}
            remote = updated
        self.stats.updated += 1
        pushed = set(flat) | ({"tags"} if tags_pushed else set())
        self._done(entry, contact, remote, pushed=pushed, ghl_id=ghl_id, wrote=bool(body), link=link)

    def _push_tags(self, contact: Contact, ghl_id: str, current: dict | None) -> list[str] | None:
        """Send the tag diff since the last sync through add/remove (a tag added in GHL meanwhile survives)."""
        link = ExternalIdentity.objects.filter(provider=PROVIDER, account_id=self.location_id,
                                               content_type=self.contact_type, object_id=contact.pk).first()
        snapshot = (link.synced_snapshot or {}) if link else {}
        base = snapshot.get("tags")
        if base is None:  # never synced: only add what GHL lacks
            base = (current or {}).get("tags") or []
        local = list(contact.tags or [])
        base_keys = {t.lower() for t in base}
        local_keys = {t.lower() for t in local}
        add = [t for t in local if t.lower() not in base_keys]
        remove = [t for t in base if t.lower() not in local_keys]
        final: list[str] | None = None
        if remove:
            final = self.client.contacts.remove_tags(ghl_id, remove)
        if add:
            final = self.client.contacts.add_tags(ghl_id, add)
        if final is not None and not values_equal("tags", [t.lower() for t in local], [t.lower() for t in final]):
            # GHL holds more (a concurrent addition there) or spelled them its way: take its list locally.
            contact_apply_pushed_result(contact=contact, provider=PROVIDER, account_id=self.location_id,
                                        connection_id=self.connection.pk, values={"tags": final})
            contact.refresh_from_db()
        return final

    # -- bookkeeping -------------------------------------------------------------------------------------
    def _done(self, entry: OutboxEntry, contact: Contact, remote: dict | None, *, pushed: set[str],
              ghl_id: str | None = None, wrote: bool = True, link: ExternalIdentity | None = None) -> None:
        remote_id = (remote or {}).get("id") or ghl_id
        if remote is None or len(remote) <= 2:  # nothing but id/tags known: no full state to hash
            base = None
            if remote is not None and "tags" in remote:
                # A tags-only push (no read, no PUT): the tags both sides now hold are the next diff's base,
                # or a later removal would be diffed against the tags of the last full sync.
                contact.refresh_from_db()
                if values_equal("tags", canonical(contact.tags or []), canonical(remote["tags"])):
                    base = {"tags": remote["tags"]}
            outbox_mark_done(entry=entry, remote_id=remote_id, connection_id=self.connection.pk,
                             remote_values=base, remote_values_partial=True)
            return
        flat = flatten_ghl_contact(remote)
        values = self.mapping.to_local(flat)
        if wrote and link is not None:  # an update's PUT answered with the whole contact
            pushed_local = {self.mapping.by_remote[k].local_field for k in pushed if k in self.mapping.by_remote}
            if self._may_hold_remote_changes(contact, link, values, pushed_local):
                contact_take_remote_only_changes(contact=contact, provider=PROVIDER, account_id=self.location_id,
                                                 connection_id=self.connection.pk, remote=values,
                                                 exclude=pushed_local)
        contact.refresh_from_db()
        remote_tags = values.get("tags")
        if remote_tags is not None and remote_tags != contact.tags and (
                [t.lower() for t in remote_tags] == [t.lower() for t in contact.tags or []]):
            # GHL stores tags lower-cased: take its spelling, or the echo would look like a tag change.
            contact_apply_pushed_result(contact=contact, provider=PROVIDER, account_id=self.location_id,
                                        connection_id=self.connection.pk, values={"tags": remote_tags})
            contact.refresh_from_db()
        # Only values both sides now hold become the base of the next three-way merge.
        agreed = {k: v for k, v in values.items() if values_equal(k, canonical(get_local_value(contact, k)), v)}
        done = dict(entry=entry, remote_id=remote_id, connection_id=self.connection.pk, remote_values=agreed,
                    content_hash=webhook_hash(self.mapping, flat),
                    remote_updated_at=parse_ghl_time(remote.get("dateUpdated")) if wrote else None)
        try:
            outbox_mark_done(**done)
        except ExternalIdConflict:
            # The webhook of this very create may have linked the same pair first (it matched by email).
            if not ExternalIdentity.objects.filter(provider=PROVIDER, account_id=self.location_id,
                                                   object_id=contact.pk, external_id=remote_id).exists():
                raise
            outbox_mark_done(**done)

    @staticmethod
    def _may_hold_remote_changes(contact: Contact, link: ExternalIdentity, values: dict[str, Any],
                                 exclude: set[str]) -> bool:
        """A check in memory (the link as the push began) before the locked one: the common answer holds
        nothing new, and the push should not hold the contact's row longer for it."""
        snapshot = link.synced_snapshot or {}
        for name, value in values.items():
            if name in exclude or name not in snapshot:
                continue
            local = canonical(get_local_value(contact, name))
            if not values_equal(name, canonical(value), local) and not values_equal(name, canonical(value),
                                                                                  snapshot[name]):
                return True
        return False

    def rejected(self, exc: GhlValidationError, obj: Contact | None = None) -> None:
        """Name the mapped field GHL complained about on its mapping row (clear error, not a silent drop)."""
        text = " ".join(validation_messages(exc)).lower()
        for spec in self.mapping.specs:
            key = spec.remote_key.removeprefix(CUSTOM_PREFIX).lower()
            names = {key, key.split(".")[0], spec.local_field.lower()}
            if any(n and n in text for n in names):
                message = "; ".join(validation_messages(exc))
                self.mapping.record_error(spec.remote_key, f"GHL rejected this field: {message}",
                                          subject=record_subject(obj) if obj is not None else "")



# Kept for branches written before pushes were dispatched by kind; new code calls `push.outbox_push_pending`.
contacts_push_pending = outbox_push_pending
