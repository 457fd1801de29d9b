"""The sandbox's own state: one SQLite file (WAL), shared by every request thread behind a lock.

Every GHL object is a JSON document in `objects`, keyed by (kind, id) and indexed by location and a sort
timestamp (epoch ms) so the big lists (contacts) page in SQL. Config, the request log and the webhook
delivery log have their own tables. The sandbox never touches the product's database.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, location_id TEXT, sort_ms INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL, PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS objects_by_location ON objects (kind, location_id, sort_ms, id);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL, method TEXT, path TEXT, status INTEGER,
    location_id TEXT, company_id TEXT, client_id TEXT, grant_type TEXT, duration_ms REAL, trace_id TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, t REAL, webhook_id TEXT, type TEXT, location_id TEXT,
    url TEXT, status INTEGER, attempt INTEGER, outcome TEXT, error TEXT
);
"""
TABLES = ("objects", "kv", "request_log", "deliveries")


class RowCache:
    """Values derived from stored rows (a search item's JSON, say), reused while a row is unchanged.

    An entry is checked against the row as just read, its sort key and exact JSON text, rather than
    invalidated by writers: no write path (API, control API, seeding, reset, a write landing while another
    thread builds a page) can leave a stale value behind, because a changed row simply misses. Entries of
    deleted rows are dropped by the store to bound memory; they could never be served anyway.
    """

    def __init__(self, derive: Callable[[int, dict], Any]):
        self._derive = derive
        self._entries: dict[str, tuple[int, str, Any]] = {}

    def get(self, sort_ms: int, id_: str, data: str):
        """The value for a row as read by `Store.page_rows`."""
        hit = self._entries.get(id_)
        if hit is not None and hit[0] == sort_ms and hit[1] == data:
            return hit[2]
        value = self._derive(sort_ms, json.loads(data))
        # Racing threads may each store their own row's value; the check above rejects whichever is outdated.
        self._entries[id_] = (sort_ms, data, value)
        return value

    def fill(self, sort_ms: int, doc: dict, data: str) -> None:
        """Derive the value of a row being written (`data` is `json.dumps(doc)`), so that even the first read
        of a freshly seeded contact is a hit. The doc in hand stands for `json.loads(data)`: store documents
        are plain JSON values, which survive the round trip unchanged."""
        self._entries[doc["id"]] = (sort_ms, data, self._derive(sort_ms, doc))

    def forget(self, id_: str | None = None) -> None:
        if id_ is None:
            self._entries.clear()
        else:
            self._entries.pop(id_, None)


class Store:
    """Thread-safe JSON document store. All public methods take the lock; none returns live rows."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        # (kind, location_id) -> COUNT(*). Every search page reports `total`, and counting 30,000 contacts costs
        # milliseconds per page; any write to `objects` clears it.
        self._counts: dict[tuple[str, str], int] = {}
        # (kind, derive) -> its RowCache: filled on every write of that kind, emptied on delete and reset.
        self._row_caches: dict[tuple[str, Callable], RowCache] = {}
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # A sandbox file written before the log kept each response's traceId.
        if "trace_id" not in {c[1] for c in self.db.execute("PRAGMA table_info(request_log)").fetchall()}:
            self.db.execute("ALTER TABLE request_log ADD COLUMN trace_id TEXT")

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # -- documents -------------------------------------------------------------------------------
    def get(self, kind: str, id_: str) -> dict | None:
        with self.lock:
            row = self.db.execute("SELECT data FROM objects WHERE kind=? AND id=?", (kind, id_)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, doc: dict, *, location_id: str | None = None, sort_ms: int = 0) -> dict:
        with self.lock:
            self._counts.clear()
            data = json.dumps(doc)
            self.db.execute(
                "INSERT OR REPLACE INTO objects (kind, id, location_id, sort_ms, data) VALUES (?,?,?,?,?)",
                (kind, doc["id"], location_id, sort_ms, data),
            )
            self._fill_row_caches(kind, [(doc, sort_ms, data)])
        return doc

    def put_many(self, kind: str, rows: Iterable[tuple[dict, str | None, int]]) -> None:
        written = [(d, loc, ms, json.dumps(d)) for d, loc, ms in rows]
        with self.lock:
            self._counts.clear()
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR REPLACE INTO objects (kind, id, location_id, sort_ms, data) VALUES (?,?,?,?,?)",
                ((kind, d["id"], loc, ms, data) for d, loc, ms, data in written),
            )
            self.db.execute("COMMIT")
            self._fill_row_caches(kind, [(d, ms, data) for d, _, ms, data in written])

    def _fill_row_caches(self, kind: str, rows: list[tuple[dict, int, str]]) -> None:
        for (cached_kind, _), cache in self._row_caches.items():
            if cached_kind == kind:
                for doc, sort_ms, data in rows:
                    cache.fill(sort_ms, doc, data)

    def delete(self, kind: str, id_: str) -> bool:
        with self.lock:
            self._counts.clear()
            cur = self.db.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, id_))
            for (cached_kind, _), cache in self._row_caches.items():
                if cached_kind == kind:
                    cache.forget(id_)
        return cur.rowcount > 0

    def row_cache(self, kind: str, derive: Callable[[int, dict], Any]) -> RowCache:
        """This store's cache of `derive(sort_ms, doc)` for rows of `kind`, made on first call; feed it rows from
        `page_rows`. Writes fill it from then on, so make it before seeding (`routes.register_row_caches`)."""
        with self.lock:
            return self._row_caches.setdefault((kind, derive), RowCache(derive))

    def list(self, kind: str, location_id: str | None = None) -> list[dict]:
        with self.lock:
            if location_id is None:
                rows = self.db.execute("SELECT data FROM objects WHERE kind=? ORDER BY sort_ms, id", (kind,))
            else:
                rows = self.db.execute(
                    "SELECT data FROM objects WHERE kind=? AND location_id=? ORDER BY sort_ms, id",
                    (kind, location_id),
                )
            return [json.loads(r[0]) for r in rows.fetchall()]

    def count_between(self, kind: str, location_id: str, bounds: Sequence[tuple[str, int]]) -> int:
        """How many objects have a sort_ms within `bounds` (see `page_rows`); not cached."""
        sql, args = _with_bounds("SELECT COUNT(*) FROM objects WHERE kind=? AND location_id=?", [kind, location_id],
                                 bounds)
        with self.lock:
            return self.db.execute(sql, args).fetchone()[0]

    def count(self, kind: str, location_id: str) -> int:
        with self.lock:
            key = (kind, location_id)
            if key not in self._counts:
                self._counts[key] = self.db.execute(
                    "SELECT COUNT(*) FROM objects WHERE kind=? AND location_id=?", (kind, location_id)
                ).fetchone()[0]
            return self._counts[key]

    def page_rows(self, kind: str, location_id: str, *, limit: int, offset: int = 0,
                  after: tuple[int, str] | None = None, descending: bool = False,
                  bounds: Sequence[tuple[str, int]] = ()) -> list[tuple[int, str, str]]:
        """A page ordered by (sort_ms, id); `after` is a keyset cursor; `bounds` are (operator, ms) conditions
        on sort_ms (`>=`, `>`, `<=`, `<`). Returns undecoded (sort_ms, id, JSON text) rows, for a `RowCache`."""
        direction = "DESC" if descending else "ASC"
        cmp = "<" if descending else ">"
        sql = "SELECT sort_ms, id, data FROM objects WHERE kind=? AND location_id=?"
        args: list = [kind, location_id]
        sql, args = _with_bounds(sql, args, bounds)
        if after is not None:
            sql += f" AND (sort_ms, id) {cmp} (?, ?)"
            args += [after[0], after[1]]
        sql += f" ORDER BY sort_ms {direction}, id {direction} LIMIT ? OFFSET ?"
        args += [limit, offset]
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    # -- config ----------------------------------------------------------------------------------
    def kv_get(self, key: str, default=None):
        with self.lock:
            row = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def kv_set(self, key: str, value) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- logs ------------------------------------------------------------------------------------
    def log_request(self, **row) -> None:
        with self.lock:
            self.db.execute(
                "INSERT INTO request_log (t, method, path, status, location_id, company_id, client_id, grant_type,"
                " duration_ms, trace_id) VALUES (:t, :method, :path, :status, :location_id, :company_id, :client_id,"
                " :grant_type, :duration_ms, :trace_id)",
                {"trace_id": None, **row},
            )

    def log_delivery(self, **row) -> None:
        row.setdefault("t", time.time())
        with self.lock:
            self.db.execute(
                "INSERT INTO deliveries (t, webhook_id, type, location_id, url, status, attempt, outcome, error)"
                " VALUES (:t, :webhook_id, :type, :location_id, :url, :status, :attempt, :outcome, :error)",
                row,
            )

    def query_log(self, table: str, filters: dict, *, limit: int = 1000) -> list[dict]:
        """Rows of `request_log` or `deliveries` whose columns equal every given filter value."""
        assert table in ("request_log", "deliveries")
        with self.lock:
            columns = [c[1] for c in self.db.execute(f"PRAGMA table_info({table})").fetchall()]
        where, args = [], []
        for key, value in filters.items():
            if key == "since":
                where.append("t >= ?")
                args.append(float(value))
            elif key == "path_prefix":
                where.append("path LIKE ?")
                args.append(str(value) + "%")
            elif key in columns and value not in (None, ""):
                where.append(f"{key} = ?")
                args.append(value)
        sql = f"SELECT * FROM {table}"  # noqa: S608 - table and column names come from fixed lists
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self.lock:
            cur = self.db.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def clear_log(self, table: str) -> None:
        assert table in ("request_log", "deliveries")
        with self.lock:
            self.db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table name

    def reset(self) -> None:
        with self.lock:
            self._counts.clear()
            for cache in self._row_caches.values():
                cache.forget()
            for table in TABLES:
                self.db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names


def find_by_field(store: Store, kind: str, location_id: str, field: str, value) -> list[dict]:
    """Documents of a location whose top-level JSON `field` equals `value` (SQLite json_extract scan)."""
    assert field.isidentifier()
    with store.lock:
        rows = store.db.execute(
            "SELECT data FROM objects WHERE kind=? AND location_id=? AND json_extract(data, ?) = ?"
            " ORDER BY sort_ms, id",
            (kind, location_id, f"$.{field}", value),
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


SORT_BOUND_OPERATORS = frozenset({">=", ">", "<=", "<"})


def _with_bounds(sql: str, args: list, bounds: Sequence[tuple[str, int]]) -> tuple[str, list]:
    for operator, ms in bounds:
        if operator not in SORT_BOUND_OPERATORS:  # interpolated into SQL: only these four
            raise ValueError(f"not a bound operator: {operator!r}")
        sql += f" AND sort_ms {operator} ?"
        args = [*args, int(ms)]
    return sql, args
