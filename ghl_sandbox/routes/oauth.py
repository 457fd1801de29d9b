"""OAuth endpoints: token exchange/refresh, agency -> location token, installed locations (§b)."""
from .. import auth
from .. import constants as c
from ..app import route
from ..errors import bad_request, forbidden, oauth_error, unprocessable

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


def _form(ctx) -> dict:
    # Form-encoded only, as GHL documents: a JSON body reads as empty, so its fields are "missing" (422).
    return ctx.request.form.to_dict()


def token(ctx):
    form = _form(ctx)
    missing = [f for f in ("client_id", "client_secret", "grant_type") if not form.get(f)]
    if missing:
        raise unprocessable(*(f"{f} should not be empty" for f in missing))
    if form["grant_type"] not in GRANT_TYPES:
        raise unprocessable("grant_type must be one of the following values: " + ", ".join(GRANT_TYPES))
    auth.check_client(ctx.sandbox, form["client_id"], form["client_secret"])
    if form["grant_type"] == "authorization_code":
        return 200, auth.exchange_code(ctx.sandbox, form)
    if form["grant_type"] == "refresh_token":
        return 200, auth.refresh(ctx.sandbox, form)
    raise oauth_error(400, "unsupported_grant_type", "client_credentials is not supported by this app")


def location_token(ctx):
    form = _form(ctx)
    missing = [f for f in ("companyId", "locationId") if not form.get(f)]
    if missing:
        raise unprocessable(*(f"{f} should not be empty" for f in missing))
    if form["companyId"] != ctx.token["companyId"]:
        raise forbidden("The token does not have access to this company.")
    loc = ctx.store.get("location", form["locationId"])
    if loc is None or loc.get("companyId") != form["companyId"]:
        raise bad_request("Location not found")
    if not loc.get("_installed", True):
        raise bad_request("This app is not installed on this location")
    grant = {"userType": "Location", "locationId": loc["id"], "companyId": loc["companyId"],
             "userId": ctx.token["userId"], "clientId": ctx.token["clientId"],
             "scopes": [s for s in ctx.token["scopes"] if s in c.LOCATION_SCOPES]}
    access, ttl = auth.issue_access_token(ctx.sandbox, grant)
    return 200, {"access_token": access, "token_type": "Bearer", "expires_in": ttl,
                 "scope": " ".join(grant["scopes"]), "locationId": loc["id"], "planId": c.SANDBOX_PLAN_ID,
                 "userId": grant["userId"], "appId": c.SANDBOX_APP_ID, "versionId": c.SANDBOX_VERSION_ID}


def installed_locations(ctx):
    q = ctx.query
    missing = [f for f in ("companyId", "appId") if not q.get(f)]
    if missing:
        raise unprocessable(*(f"{f} should not be empty" for f in missing))
    if q["companyId"] != ctx.token["companyId"]:
        raise forbidden("The token does not have access to this company.")
    if q["appId"] != c.SANDBOX_APP_ID:
        raise bad_request("App not found")
    locations = [loc for loc in ctx.store.list("location") if loc.get("companyId") == q["companyId"]]
    if q.get("isInstalled") in ("true", "false"):
        want = q["isInstalled"] == "true"
        locations = [loc for loc in locations if loc.get("_installed", True) == want]
    if q.get("query"):
        locations = [loc for loc in locations if q["query"].lower() in loc["name"].lower()]
    if q.get("locationId"):
        locations = [loc for loc in locations if loc["id"] == q["locationId"]]
    skip, limit = int(q.get("skip", "0") or 0), int(q.get("limit", "20") or 20)
    items = [{"_id": loc["id"], "name": loc["name"], "address": loc.get("address") or "",
              "isInstalled": loc.get("_installed", True), "versionId": c.SANDBOX_VERSION_ID,
              "installedAt": loc.get("dateAdded")} for loc in locations[skip:skip + limit]]
    return 200, {"locations": items, "count": len(locations), "installToFutureLocations": True}


ROUTES = [
    route("POST", "/oauth/token", token, auth="none"),
    route("POST", "/oauth/locationToken", location_token, scope="oauth.write", version=c.VERSION_2021_07_28,
          auth="company"),
    route("GET", "/oauth/installedLocations", installed_locations, scope="oauth.readonly",
          version=c.VERSION_2021_07_28, auth="company"),
]
