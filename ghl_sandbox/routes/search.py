"""GHL's advanced-search dialect shared by contacts and opportunities: filters, sort, page and searchAfter."""
import functools
from collections.abc import Callable

from ..errors import bad_request, parse_iso_ms, unprocessable

OPERATORS = ("eq", "not_eq", "contains", "not_contains", "exists", "not_exists", "range")
PAGE_CAP = 10_000


def _norm(v):
    return v.lower() if isinstance(v, str) else v


def _as_number(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int | float):
        return v
    try:
        return parse_iso_ms(v)
    except (ValueError, TypeError):
        try:
            return float(v)
        except (ValueError, TypeError):
            return v


def match(doc: dict, flt: dict, getter: Callable[[dict, str], object]) -> bool:
    """One filter or group `{group: AND|OR, filters: [...]}` against `doc`."""
    if "group" in flt:
        results = (match(doc, f, getter) for f in flt.get("filters", []))
        return all(results) if str(flt["group"]).upper() == "AND" else any(results)
    op, field, value = flt.get("operator"), flt.get("field"), flt.get("value")
    if op not in OPERATORS or not field:
        raise unprocessable(f"filters: operator must be one of {', '.join(OPERATORS)} and field is required")
    actual = getter(doc, field)
    values = actual if isinstance(actual, list) else [actual]
    present = actual not in (None, "", [])
    if op == "exists":
        return present
    if op == "not_exists":
        return not present
    if op in ("eq", "not_eq"):
        wanted = {_norm(v) for v in (value if isinstance(value, list) else [value])}
        hit = any(_norm(v) in wanted for v in values)
        return hit if op == "eq" else not hit
    if op in ("contains", "not_contains"):
        needle = str(value).lower()
        hit = any(needle in str(v).lower() for v in values if v is not None)
        return hit if op == "contains" else not hit
    if not isinstance(value, dict):
        raise unprocessable("filters: range needs an object value with gte/gt/lte/lt")
    a = _as_number(actual)
    if a is None:
        return False
    checks = {"gte": lambda x: a >= x, "gt": lambda x: a > x, "lte": lambda x: a <= x, "lt": lambda x: a < x}
    try:
        return all(checks[k](_as_number(v)) for k, v in value.items() if k in checks)
    except TypeError:
        return False


def _cmp(a, b) -> int:
    if a == b:
        return 0
    if a is None:
        return -1
    if b is None:
        return 1
    try:
        return -1 if a < b else 1
    except TypeError:
        return -1 if str(a) < str(b) else 1


def sort_and_page(docs: list[dict], body: dict, *, sort_value: Callable[[dict, str], object],
                  default_sort: list[dict], limit_key: str, allowed_sort: tuple[str, ...]) -> tuple[list, int]:
    """Apply sort, then `page`+limit or `searchAfter`+limit. Each returned doc gains `searchAfter`."""
    sort = body.get("sort") or default_sort
    if not isinstance(sort, list) or len(sort) > 2:
        raise unprocessable("sort must be an array of at most 2 items")
    for s in sort:
        if s.get("field") not in allowed_sort:
            raise unprocessable(f"sort field must be one of {', '.join(allowed_sort)}")
    limit = body.get(limit_key)
    if limit is None:
        raise unprocessable(f"{limit_key} must be a number")
    limit = int(limit)
    if not 1 <= limit <= 500:
        raise unprocessable(f"{limit_key} must not be greater than 500 and not less than 1")

    def key(doc):
        return [sort_value(doc, s["field"]) for s in sort] + [doc["id"]]

    directions = [str(s.get("direction", "asc")).lower() for s in sort] + ["asc"]

    def compare(ka, kb):
        for a, b, d in zip(ka, kb, directions, strict=True):
            r = _cmp(a, b)
            if r:
                return r if d == "asc" else -r
        return 0

    keyed = sorted(((key(d), d) for d in docs), key=functools.cmp_to_key(lambda x, y: compare(x[0], y[0])))
    after = body.get("searchAfter")
    if after is not None and body.get("page") is not None:
        raise bad_request("page must be omitted when searchAfter is used")
    if after is not None:
        if not isinstance(after, list) or len(after) != len(directions):
            raise bad_request("searchAfter must be the searchAfter array of the last item of the previous page")
        keyed = [(k, d) for k, d in keyed if compare(k, after) > 0]
        window = keyed[:limit]
    else:
        page = int(body.get("page") or 1)
        if page < 1:
            raise unprocessable("page must not be less than 1")
        if page * limit > PAGE_CAP:
            raise bad_request(f"Page-based access is limited to {PAGE_CAP} records; use searchAfter")
        window = keyed[(page - 1) * limit: page * limit]
    return [{**d, "searchAfter": k} for k, d in window], len(docs)
