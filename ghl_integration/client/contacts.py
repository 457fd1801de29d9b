"""Contacts (``Version: 2021-07-28``). https://highlevel.stoplight.io/docs/integrations/ — REFERENCE.md §c.

Writes take GHL's own field names (camelCase), e.g. ``{"firstName": "Ada", "email": "ada@example.com",
"customFields": [{"id": "...", "field_value": "..."}]}``; reads return GHL's contact object, whose custom fields
come back as ``[{"id", "value"}]``. ``tags`` on update/upsert *replaces* the list: use ``add_tags``/``remove_tags``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .base import Resource, seg
from .pagination import iter_search_after
from .types import Contact, ContactSearchPage, UpsertContactResult

SEARCH_PAGE_SIZE = 100
SEARCH_MAX_PAGE_LIMIT = 500  # GHL answers 422 to a larger `pageLimit`


class ContactsApi(Resource):
    def get(self, contact_id: str) -> Contact:
        """``GET /contacts/{id}`` → the contact (unwrapped from ``{"contact": ...}``). 404 → ``GhlNotFound``."""
        return self._get(f"/contacts/{seg(contact_id)}")["contact"]

    def search(
        self,
        *,
        filters: Sequence[Mapping[str, Any]] | None = None,
        query: str | None = None,
        sort: Sequence[Mapping[str, str]] | None = None,
        page: int | None = None,
        page_limit: int = SEARCH_PAGE_SIZE,
        search_after: Sequence[Any] | None = None,
    ) -> ContactSearchPage:
        """``POST /contacts/search`` (advanced search) → ``{"contacts": [...], "total": n}``.

        ``filters`` are GHL's ``{field, operator, value}`` items or ``{group, filters}`` groups. Pass either
        ``page`` or ``search_after`` (GHL refuses both); prefer :meth:`iter_search` to walk every page.
        """
        if page is not None and search_after is not None:
            raise ValueError("pass either page or search_after, not both")
        body: dict[str, Any] = {"locationId": self.location_id, "pageLimit": page_limit}
        if page is not None:
            body["page"] = page
        if search_after is not None:
            body["searchAfter"] = list(search_after)
        if filters:
            body["filters"] = list(filters)
        if sort:
            body["sort"] = list(sort)
        if query:
            body["query"] = query
        # A search is a read: safe to retry after a timeout.
        return self._send("POST", "/contacts/search", body, idempotent=True)

    def iter_search(
        self,
        *,
        filters: Sequence[Mapping[str, Any]] | None = None,
        query: str | None = None,
        sort: Sequence[Mapping[str, str]] | None = None,
        page_size: int = SEARCH_PAGE_SIZE,
    ) -> Iterator[Contact]:
        """Every contact matching the search, following ``searchAfter`` (falls back to ``page`` numbers)."""

        def fetch(cursor: dict[str, Any]) -> dict[str, Any]:
            return self.search(
                filters=filters,
                query=query,
                sort=sort,
                page_limit=page_size,
                page=cursor.get("page"),
                search_after=cursor.get("searchAfter"),
            )

        return iter_search_after(fetch, items_key="contacts", page_size=page_size)

    def create(self, contact: Mapping[str, Any]) -> Contact:
        """``POST /contacts/`` → the created contact.

        When the location forbids duplicates GHL answers 400 and ``GhlValidationError.duplicate_contact_id``
        names the existing contact. Not retried after a read timeout (it may have been created).
        """
        body = {**contact, "locationId": self.location_id}
        return self._send("POST", "/contacts/", body)["contact"]

    def update(self, contact_id: str, changes: Mapping[str, Any]) -> Contact:
        """``PUT /contacts/{id}`` → the updated contact. ``locationId`` is not accepted by GHL here and is dropped."""
        body = {k: v for k, v in changes.items() if k != "locationId"}
        return self._send("PUT", f"/contacts/{seg(contact_id)}", body)["contact"]

    def upsert(
        self, contact: Mapping[str, Any], *, create_new_if_duplicate_allowed: bool | None = None
    ) -> UpsertContactResult:
        """``POST /contacts/upsert`` → ``{"new": bool, "contact": {...}}``; matching follows the location settings.

        Upsert matches on email/phone, so a retry after a timeout updates the same contact: treated as idempotent.
        """
        body = {**contact, "locationId": self.location_id}
        if create_new_if_duplicate_allowed is not None:
            body["createNewIfDuplicateAllowed"] = create_new_if_duplicate_allowed
        data = self._send("POST", "/contacts/upsert", body, idempotent=True)
        return {"new": bool(data.get("new")), "contact": data["contact"]}

    def delete(self, contact_id: str) -> bool:
        """``DELETE /contacts/{id}`` → ``True`` when GHL reports success (its key is spelled ``succeded``)."""
        data = self._send("DELETE", f"/contacts/{seg(contact_id)}")
        return bool(data.get("succeded", data.get("succeeded", True)))

    def add_tags(self, contact_id: str, tags: Sequence[str]) -> list[str]:
        """``POST /contacts/{id}/tags`` → the contact's tags after the change. Adding a tag twice is harmless."""
        data = self._send("POST", f"/contacts/{seg(contact_id)}/tags", {"tags": list(tags)}, idempotent=True)
        return list(data.get("tags") or [])

    def remove_tags(self, contact_id: str, tags: Sequence[str]) -> list[str]:
        """``DELETE /contacts/{id}/tags`` (JSON body) → the contact's tags after the change."""
        data = self._send("DELETE", f"/contacts/{seg(contact_id)}/tags", {"tags": list(tags)})
        return list(data.get("tags") or [])

    def find_duplicate(self, *, email: str | None = None, phone: str | None = None) -> Contact | None:
        """``GET /contacts/search/duplicate`` → the existing contact or ``None``.

        GHL's response body is undocumented (REFERENCE §i.8); third parties read ``contact``, so do we.
        """
        if not email and not phone:
            raise ValueError("find_duplicate needs an email or a phone")
        params = {"locationId": self.location_id, "email": email, "number": phone}
        data = self._get("/contacts/search/duplicate", params)
        return data.get("contact") or None
