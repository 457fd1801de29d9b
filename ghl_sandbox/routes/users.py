"""Users (`Version: 2021-07-28`, REFERENCE.md §g): search and get by id."""
from .. import constants as c
from ..app import route
from ..auth import public
from ..errors import forbidden, not_found, unprocessable

V = c.VERSION_2021_07_28


def _visible(ctx, user: dict) -> bool:
    tok = ctx.token
    if tok["userType"] == "Location":
        return tok["locationId"] in user.get("roles", {}).get("locationIds", [])
    return user.get("_companyId") == tok["companyId"]


def search_users(ctx):
    q = ctx.query
    if not q.get("companyId"):
        raise unprocessable("companyId should not be empty")
    if q["companyId"] != ctx.token["companyId"]:
        raise forbidden("The token does not have access to this company.")
    location_id = q.get("locationId")
    if ctx.token["userType"] == "Location":
        location_id = ctx.check_location(location_id or ctx.token["locationId"])
    users = [u for u in ctx.store.list("user") if u.get("_companyId") == q["companyId"] and _visible(ctx, u)]
    if location_id:
        users = [u for u in users if location_id in u.get("roles", {}).get("locationIds", [])]
    if q.get("query"):
        needle = q["query"].lower()
        users = [u for u in users if needle in (u["name"] + " " + (u.get("email") or "")).lower()]
    if q.get("role"):
        users = [u for u in users if u.get("roles", {}).get("role") == q["role"]]
    skip, limit = int(q.get("skip", "0") or 0), int(q.get("limit", "25") or 25)
    return 200, {"users": [public(u) for u in users[skip:skip + limit]], "count": len(users)}


def get_user(ctx):
    user = ctx.store.get("user", ctx.params["userId"])
    if user is None or not _visible(ctx, user):
        raise not_found("User not found")
    return 200, public(user)


def list_users(ctx):
    """`GET /users/?locationId=`: deprecated by GHL, but the only listing a sub-account token may call."""
    location_id = ctx.check_location(ctx.query.get("locationId"))
    users = [u for u in ctx.store.list("user") if location_id in u.get("roles", {}).get("locationIds", [])]
    return 200, {"users": [public(u) for u in users if _visible(ctx, u)]}


ROUTES = [
    route("GET", "/users/", list_users, scope="users.readonly", version=V, auth="any"),
    route("GET", "/users/search", search_users, scope="users.readonly", version=V, auth="any"),
    route("GET", "/users/{userId}", get_user, scope="users.readonly", version=V, auth="any"),
]
