"""The OAuth `state`: signed, bound to the user and organization, single-use and short-lived.

The signed value carries (user id, organization id, nonce). The nonce is also kept in the user's session
and removed when the callback consumes it, so a state can be used once, only by the browser session that
started the flow, and only within `GHL_OAUTH_STATE_MAX_AGE_S`.
"""
import secrets

from django.conf import settings
from django.core import signing

STATE_SALT = "ghl_integration.oauth.state"
SESSION_KEY = "ghl_oauth_nonces"
MAX_PENDING_NONCES = 5  # a few tabs may start the flow at once


class OAuthStateError(Exception):
    """The state is missing, tampered with, expired, reused, or belongs to someone else."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def state_issue(*, request, organization_id: int) -> str:
    nonce = secrets.token_urlsafe(16)
    pending = [n for n in request.session.get(SESSION_KEY, []) if isinstance(n, str)][-(MAX_PENDING_NONCES - 1):]
    request.session[SESSION_KEY] = [*pending, nonce]
    return signing.dumps({"u": request.user.pk, "o": organization_id, "n": nonce}, salt=STATE_SALT, compress=True)


def state_consume(*, request, state: str | None) -> int:
    """Validate and spend `state`; return the organization id it was issued for."""
    if not state:
        raise OAuthStateError("missing")
    try:
        data = signing.loads(state, salt=STATE_SALT, max_age=settings.GHL_OAUTH_STATE_MAX_AGE_S)
    except signing.SignatureExpired:
        raise OAuthStateError("expired")
    except signing.BadSignature:
        raise OAuthStateError("tampered")
    if not isinstance(data, dict) or data.get("u") != request.user.pk or not isinstance(data.get("o"), int):
        raise OAuthStateError("wrong_user")
    pending = request.session.get(SESSION_KEY, [])
    if data.get("n") not in pending:
        raise OAuthStateError("reused")
    pending.remove(data["n"])
    request.session[SESSION_KEY] = pending
    return data["o"]
