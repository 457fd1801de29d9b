"""One iterator per pagination style GHL uses (REFERENCE.md §a "Pagination styles"), so callers never hand-roll
cursors. Each takes a ``fetch`` callable that requests one page given the cursor parameters and returns the parsed
body; each yields items and stops on an empty page, a short page, or a missing cursor. ``max_pages`` is a guard
against a server that keeps returning the same cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

MAX_PAGES = 100_000

Page = dict[str, Any]


def _items(page: Page, key: str) -> list[dict[str, Any]]:
    items = page.get(key) or []
    return items if isinstance(items, list) else []


def iter_search_after(
    fetch: Callable[[dict[str, Any]], Page],
    *,
    items_key: str,
    page_size: int,
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Body-cursor search (``POST /contacts/search``, ``POST /opportunities/search``).

    ``fetch`` receives ``{"searchAfter": [...]}`` for the next page, or ``{"page": n}`` when the results carry no
    ``searchAfter`` value (REFERENCE §a: the per-item key is assumed to be ``searchAfter``). The first call gets ``{}``.
    Search-after is preferred: page numbers stop working past 10,000 records.
    """
    cursor: dict[str, Any] = {}
    page_number = 1
    seen = 0
    for _ in range(max_pages):
        page = fetch(cursor)
        items = _items(page, items_key)
        yield from items
        seen += len(items)
        total = page.get("total")
        if len(items) < page_size or (isinstance(total, int) and seen >= total):
            return
        last = items[-1].get("searchAfter")
        if isinstance(last, list) and last:
            cursor = {"searchAfter": last}
        else:
            page_number += 1
            cursor = {"page": page_number}


def iter_meta_keyset(
    fetch: Callable[[dict[str, Any]], Page],
    *,
    items_key: str,
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Query keyset with a ``meta`` block (``GET /opportunities/search``): ``meta.startAfter`` + ``meta.startAfterId``.

    Stops when ``meta.nextPage`` is null/absent or the cursor is missing or does not move.
    """
    cursor: dict[str, Any] = {}
    for _ in range(max_pages):
        page = fetch(cursor)
        items = _items(page, items_key)
        yield from items
        meta = page.get("meta") or {}
        next_cursor = {"startAfter": meta.get("startAfter"), "startAfterId": meta.get("startAfterId")}
        if not items or not meta.get("nextPage") or not next_cursor["startAfterId"] or next_cursor == cursor:
            return
        cursor = next_cursor


def iter_last_message_id(
    fetch: Callable[[dict[str, Any]], Page],
    *,
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Message keyset (``GET /conversations/{id}/messages``): ``lastMessageId`` + ``nextPage``.

    ``fetch`` must return the *normalised* page ``{"messages": [...], "lastMessageId": ..., "nextPage": bool}``
    (see ``conversations.normalise_messages_page``, which accepts GHL's wrapped and flat shapes).
    """
    cursor: dict[str, Any] = {}
    for _ in range(max_pages):
        page = fetch(cursor)
        items = _items(page, "messages")
        yield from items
        last_id = page.get("lastMessageId") or (items[-1].get("id") if items else None)
        if not items or not page.get("nextPage") or not last_id or cursor.get("lastMessageId") == last_id:
            return
        cursor = {"lastMessageId": last_id}


def iter_sort_value(
    fetch: Callable[[dict[str, Any]], Page],
    *,
    items_key: str,
    page_size: int,
    sort_key: Callable[[dict[str, Any]], Any],
    max_pages: int = MAX_PAGES,
    start_after: Any = None,
) -> Iterator[dict[str, Any]]:
    """Keyset by the last item's sort value (``GET /conversations/search``: ``startAfterDate``), from the item after
    the one whose sort value is ``start_after`` (None: the first)."""
    cursor: dict[str, Any] = {} if start_after is None else {"startAfterDate": start_after}
    for _ in range(max_pages):
        page = fetch(cursor)
        items = _items(page, items_key)
        yield from items
        if len(items) < page_size:
            return
        value = sort_key(items[-1])
        if value is None or cursor.get("startAfterDate") == value:
            return
        cursor = {"startAfterDate": value}


def iter_offset(
    fetch: Callable[[dict[str, Any]], Page],
    *,
    items_key: str,
    page_size: int,
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Offset paging (``skip`` + ``limit``: installed locations, users search). Uses ``count``/``total`` when sent."""
    skip = 0
    for _ in range(max_pages):
        page = fetch({"skip": skip, "limit": page_size})
        items = _items(page, items_key)
        yield from items
        skip += len(items)
        total = page.get("count", page.get("total"))
        if len(items) < page_size or (isinstance(total, int) and skip >= total):
            return
