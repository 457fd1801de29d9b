"""Opportunities and pipelines (``Version: 2021-07-28``). REFERENCE.md §e.

Note GHL's ``GET /opportunities/search`` takes snake_case query names (``location_id``, ``pipeline_id`` ...)
while every body uses camelCase.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .base import Resource, seg
from .pagination import iter_meta_keyset
from .types import Opportunity, OpportunitySearchPage, Pipeline, UpsertOpportunityResult

STATUSES = ("open", "won", "lost", "abandoned")
SEARCH_PAGE_SIZE = 100
LOST_REASON_PAGE_SIZE = 100


class OpportunitiesApi(Resource):
    def pipelines(self) -> list[Pipeline]:
        """``GET /opportunities/pipelines`` → the location's pipelines, each with ``stages`` ``[{id, name, ...}]``."""
        data = self._get("/opportunities/pipelines", {"locationId": self.location_id})
        return list(data.get("pipelines") or [])

    def search(
        self,
        *,
        q: str | None = None,
        pipeline_id: str | None = None,
        pipeline_stage_id: str | None = None,
        contact_id: str | None = None,
        status: str | None = None,
        assigned_to: str | None = None,
        order: str | None = None,
        page: int | None = None,
        limit: int = 20,
        start_after: str | int | None = None,
        start_after_id: str | None = None,
        **extra: Any,
    ) -> OpportunitySearchPage:
        """``GET /opportunities/search`` → ``{"opportunities": [...], "meta": {...}, "aggregations": {...}}``.

        ``extra`` passes any other documented query parameter verbatim (``date``, ``endDate``, ``getNotes`` ...).
        """
        params = {
            "location_id": self.location_id,
            "q": q,
            "pipeline_id": pipeline_id,
            "pipeline_stage_id": pipeline_stage_id,
            "contact_id": contact_id,
            "status": status,
            "assigned_to": assigned_to,
            "order": order,
            "page": page,
            "limit": limit,
            "startAfter": start_after,
            "startAfterId": start_after_id,
            **extra,
        }
        return self._get("/opportunities/search", params)

    def iter_search(self, *, page_size: int = SEARCH_PAGE_SIZE, **filters: Any) -> Iterator[Opportunity]:
        """Every opportunity matching ``filters`` (keywords of :meth:`search`), following ``meta.startAfter(Id)``."""

        def fetch(cursor: dict[str, Any]) -> dict[str, Any]:
            return self.search(
                limit=page_size,
                start_after=cursor.get("startAfter"),
                start_after_id=cursor.get("startAfterId"),
                **filters,
            )

        return iter_meta_keyset(fetch, items_key="opportunities")

    def search_advanced(
        self,
        *,
        filters: list[dict[str, Any]] | None = None,
        sort: list[dict[str, str]] | None = None,
        limit: int = SEARCH_PAGE_SIZE,
        search_after: list[Any] | None = None,
        query: str | None = None,
    ) -> dict[str, Any]:
        """``POST /opportunities/search`` (snake_case filter fields, e.g. ``date_updated``) →
        ``{"opportunities": [... each with "searchAfter"], "total": n}``; page on with the last item's
        ``searchAfter``."""
        body: dict[str, Any] = {"locationId": self.location_id, "limit": limit}
        if filters:
            body["filters"] = filters
        if sort:
            body["sort"] = sort
        if search_after is not None:
            body["searchAfter"] = search_after
        if query:
            body["query"] = query
        return self._send("POST", "/opportunities/search", body, idempotent=True)

    def lost_reasons(self, *, page_size: int = LOST_REASON_PAGE_SIZE) -> list[dict[str, Any]]:
        """``GET /opportunities/lost-reason`` → every lost reason of the location ``[{id, name, ...}]`` (offset-paged
        by ``skip``/``limit``, numbers here unlike the other offset listings)."""
        reasons: list[dict[str, Any]] = []
        while True:
            data = self._get("/opportunities/lost-reason",
                             {"locationId": self.location_id, "skip": len(reasons), "limit": page_size})
            page = list(data.get("lostReasons") or [])
            reasons += page
            total = data.get("total")
            if len(page) < page_size or (isinstance(total, int) and len(reasons) >= total):
                return reasons

    def get(self, opportunity_id: str) -> Opportunity:
        """``GET /opportunities/{id}`` → the opportunity."""
        return self._get(f"/opportunities/{seg(opportunity_id)}")["opportunity"]

    def create(self, opportunity: Mapping[str, Any]) -> Opportunity:
        """``POST /opportunities/`` (``pipelineId``, ``name``, ``status``, ``contactId`` required) → the opportunity."""
        body = {**opportunity, "locationId": self.location_id}
        return self._send("POST", "/opportunities/", body)["opportunity"]

    def update(self, opportunity_id: str, changes: Mapping[str, Any]) -> Opportunity:
        """``PUT /opportunities/{id}`` → the updated opportunity."""
        body = {k: v for k, v in changes.items() if k != "locationId"}
        return self._send("PUT", f"/opportunities/{seg(opportunity_id)}", body)["opportunity"]

    def update_status(self, opportunity_id: str, status: str, *, lost_reason_id: str | None = None) -> bool:
        """``PUT /opportunities/{id}/status`` → ``True`` on success."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        body: dict[str, Any] = {"status": status}
        if lost_reason_id:
            body["lostReasonId"] = lost_reason_id
        data = self._send("PUT", f"/opportunities/{seg(opportunity_id)}/status", body)
        return bool(data.get("succeded", data.get("succeeded", True)))

    def upsert(self, opportunity: Mapping[str, Any]) -> UpsertOpportunityResult:
        """``POST /opportunities/upsert`` → ``{"new": bool, "opportunity": {...}}``.

        The body shape changed between spec versions (REFERENCE §i.6): 2025 matches on ``contactId`` +
        ``pipelineId``, 2026 on ``id`` and adds follower fields. We send what the caller gives (plus
        ``locationId``) so both work; matching makes a retry safe, so it is treated as idempotent.
        """
        body = {**opportunity, "locationId": self.location_id}
        data = self._send("POST", "/opportunities/upsert", body, idempotent=True)
        return {"new": bool(data.get("new")), "opportunity": data["opportunity"]}

    def delete(self, opportunity_id: str) -> bool:
        """``DELETE /opportunities/{id}`` → ``True`` on success."""
        data = self._send("DELETE", f"/opportunities/{seg(opportunity_id)}")
        return bool(data.get("succeded", data.get("succeeded", True)))
