"""Tokens, authorization codes, refresh tokens and app installs (REFERENCE.md §b).

Access tokens, refresh tokens and codes are opaque random strings stored as documents. Codes are single-use
and short-lived; refresh tokens are single-use (rotated on every refresh). Token lifetime comes from the live
config (`token_ttl`), and `expire_all` invalidates every access token issued so far.
"""
import secrets
import time

from . import constants as c
from .errors import bad_request, oauth_error, unauthorized


def public(doc: dict) -> dict:
    """A stored document without the sandbox's private `_` keys."""
    # Copy, then drop the (usually no) private keys: twice as fast as a filtering dictcomp, same key order.
    out = doc.copy()
    for key in doc:
        if key[:1] == "_":
            del out[key]
    return out


def authenticate(sandbox, request) -> dict:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not header[7:].strip():
        raise unauthorized()
    token = sandbox.store.get("token", header[7:].strip())
    if token is None:
        raise unauthorized()
    expired_before = sandbox.store.kv_get("tokens_expired_before", 0)
    if token["expiresAt"] <= time.time() or token["issuedAt"] < expired_before:
        raise unauthorized("Invalid JWT")
    return token


def expire_all(sandbox) -> None:
    sandbox.store.kv_set("tokens_expired_before", time.time() + 0.001)


def check_client(sandbox, client_id: str | None, client_secret: str | None = None, *, secret_required=True) -> dict:
    client = sandbox.config["clients"].get(client_id or "")
    if client is None:
        raise oauth_error(401, "invalid_client", "Unknown client_id")
    if secret_required and client_secret != client["secret"]:
        raise oauth_error(401, "invalid_client", "Invalid client credentials")
    return client


def redirect_allowed(sandbox, client: dict, redirect_uri: str | None) -> bool:
    if not redirect_uri:
        return False
    if redirect_uri in client.get("redirect_uris", []) or redirect_uri in sandbox.config["redirect_uris"]:
        return True
    return bool(sandbox.config["allow_loopback_redirects"]) and redirect_uri.startswith(c.DEFAULT_REDIRECT_PREFIXES)


def issue_code(sandbox, *, client_id: str, redirect_uri: str | None, user_type: str, location_id: str | None,
               company_id: str, user_id: str, scopes: list[str]) -> str:
    code = secrets.token_urlsafe(24)
    sandbox.store.put("code", {
        "id": code, "clientId": client_id, "redirectUri": redirect_uri, "userType": user_type,
        "locationId": location_id, "companyId": company_id, "userId": user_id, "scopes": scopes,
        "expiresAt": time.time() + c.AUTH_CODE_TTL, "used": False,
    })
    return code


def issue_access_token(sandbox, grant: dict) -> tuple[str, int]:
    ttl = int(sandbox.config["token_ttl"])
    token = "sbx_at_" + secrets.token_urlsafe(32)
    now = time.time()
    sandbox.store.put("token", {
        "id": token, "userType": grant["userType"], "locationId": grant.get("locationId"),
        "companyId": grant["companyId"], "scopes": grant["scopes"], "clientId": grant["clientId"],
        "userId": grant["userId"], "issuedAt": now, "expiresAt": now + ttl,
    }, location_id=grant.get("locationId"))
    return token, ttl


def token_response(sandbox, grant: dict) -> dict:
    """The `/oauth/token` success body for `grant`, with a fresh, single-use refresh token."""
    access, ttl = issue_access_token(sandbox, grant)
    refresh = "sbx_rt_" + secrets.token_urlsafe(32)
    sandbox.store.put("refresh", {**grant, "id": refresh, "used": False,
                                  "expiresAt": time.time() + c.REFRESH_TOKEN_TTL})
    body = {
        "access_token": access, "token_type": "Bearer", "expires_in": ttl, "refresh_token": refresh,
        "scope": " ".join(grant["scopes"]), "userType": grant["userType"], "companyId": grant["companyId"],
        "userId": grant["userId"], "planId": c.SANDBOX_PLAN_ID, "isBulkInstallation": False,
    }
    if grant["userType"] == "Location":
        body["locationId"] = grant["locationId"]
    else:
        locations = [loc["id"] for loc in sandbox.store.list("location")
                     if loc.get("companyId") == grant["companyId"] and loc.get("_installed", True)]
        body.update(approvedLocations=locations, installToFutureLocations=True, approveAllLocations=True)
    return body


def exchange_code(sandbox, form) -> dict:
    code = sandbox.store.get("code", form.get("code") or "")
    if code is None or code["used"] or code["expiresAt"] < time.time():
        raise oauth_error(400, "invalid_grant", "Invalid or expired authorization code")
    if code["clientId"] != form.get("client_id"):
        raise oauth_error(400, "invalid_grant", "Authorization code was issued to another client")
    if form.get("redirect_uri") and code.get("redirectUri") and form["redirect_uri"] != code["redirectUri"]:
        raise oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization request")
    code["used"] = True
    sandbox.store.put("code", code)
    grant = {k: code[k] for k in ("userType", "locationId", "companyId", "userId", "scopes", "clientId")}
    return token_response(sandbox, grant)


def refresh(sandbox, form) -> dict:
    with sandbox.store.lock:  # check-and-burn must be atomic: two concurrent refreshes get one winner
        old = sandbox.store.get("refresh", form.get("refresh_token") or "")
        if old is None or old["used"] or old["expiresAt"] < time.time():
            raise oauth_error(400, "invalid_grant", "Invalid refresh token")
        if old["clientId"] != form.get("client_id"):
            raise oauth_error(400, "invalid_grant", "Refresh token was issued to another client")
        old["used"] = True
        sandbox.store.put("refresh", old)
    grant = {k: old[k] for k in ("userType", "locationId", "companyId", "userId", "scopes", "clientId")}
    return token_response(sandbox, grant)


# -- installs ------------------------------------------------------------------------------------------
def install(sandbox, *, location_id: str | None = None, company_id: str | None = None, user_id: str | None = None):
    """Mark the app installed and emit INSTALL (location-level, or agency-level when no location)."""
    if location_id:
        loc = sandbox.store.get("location", location_id)
        if loc is None:
            raise bad_request("Location not found")
        loc["_installed"] = True
        sandbox.store.put("location", loc)
        company = sandbox.store.get("company", loc["companyId"]) or {}
        fields = {"appId": c.SANDBOX_APP_ID, "locationId": location_id, "companyId": loc["companyId"],
                  "userId": user_id or loc.get("_ownerUserId"), "planId": c.SANDBOX_PLAN_ID,
                  "trial": {"onTrial": False, "trialDuration": 0, "trialStartDate": None},
                  "isWhitelabelCompany": False, "whitelabelDetails": {}, "companyName": company.get("name")}
        return sandbox.dispatcher.emit("INSTALL", location_id, fields, force=True)
    company = sandbox.store.get("company", company_id or "")
    if company is None:
        raise bad_request("Company not found")
    company["_installed"] = True
    sandbox.store.put("company", company)
    fields = {"appId": c.SANDBOX_APP_ID, "companyId": company_id, "planId": c.SANDBOX_PLAN_ID,
              "trial": {"onTrial": False, "trialDuration": 0, "trialStartDate": None}}
    return sandbox.dispatcher.emit("INSTALL", None, fields, force=True)


def uninstall(sandbox, *, location_id: str | None = None, company_id: str | None = None):
    """Mark the app uninstalled, emit UNINSTALL and revoke the affected tokens."""
    if location_id:
        loc = sandbox.store.get("location", location_id)
        if loc is None:
            raise bad_request("Location not found")
        loc["_installed"] = False
        sandbox.store.put("location", loc)
        payload = sandbox.dispatcher.emit("UNINSTALL", location_id,
                                          {"appId": c.SANDBOX_APP_ID, "locationId": location_id}, force=True)
        revoked = [t for t in sandbox.store.list("token") if t.get("locationId") == location_id]
    else:
        company = sandbox.store.get("company", company_id or "")
        if company is None:
            raise bad_request("Company not found")
        company["_installed"] = False
        sandbox.store.put("company", company)
        payload = sandbox.dispatcher.emit("UNINSTALL", None, {"appId": c.SANDBOX_APP_ID, "companyId": company_id},
                                          force=True)
        revoked = [t for t in sandbox.store.list("token") if t.get("companyId") == company_id]
    for tok in revoked:
        sandbox.store.delete("token", tok["id"])
    for ref in sandbox.store.list("refresh"):
        if (location_id and ref.get("locationId") == location_id) or (
                company_id and ref.get("companyId") == company_id):
            sandbox.store.delete("refresh", ref["id"])
    return payload
