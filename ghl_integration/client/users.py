"""Users (``Version: 2021-07-28``). REFERENCE.md §g.

A location token lists its users with ``GET /users/?locationId=`` (marked deprecated by GHL but the only listing
a sub-account token may call); ``GET /users/search`` needs ``companyId`` (agency scope) and pages by offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Resource, seg
from .pagination import iter_offset
from .types import User

SEARCH_PAGE_SIZE = 100


class UsersApi(Resource):
    def list(self) -> list[User]:
        """``GET /users/?locationId=`` → the location's users."""
        return list(self._get("/users/", {"locationId": self.location_id}).get("users") or [])

    def get(self, user_id: str) -> User:
        """``GET /users/{id}`` → the user (GHL does not wrap it)."""
        return self._get(f"/users/{seg(user_id)}")

    def search(
        self,
        *,
        company_id: str,
        query: str | None = None,
        skip: int = 0,
        limit: int = 25,
        **extra: Any,
    ) -> dict[str, Any]:
        """``GET /users/search`` → ``{"users": [...], "count": n}``, restricted to the client's location."""
        params = {
            "companyId": company_id,
            "locationId": self.location_id,
            "query": query,
            "skip": str(skip),
            "limit": str(limit),
            **extra,
        }
        return self._get("/users/search", params)

    def iter_search(self, *, company_id: str, page_size: int = SEARCH_PAGE_SIZE, **filters: Any) -> Iterator[User]:
        """Every user matching the search, paging by ``skip``/``limit``."""

        def fetch(cursor: dict[str, Any]) -> dict[str, Any]:
            return self.search(company_id=company_id, skip=cursor["skip"], limit=cursor["limit"], **filters)

        return iter_offset(fetch, items_key="users", page_size=page_size)
