"""GoHighLevel as a provider: what it is and how to connect to it, for no one organisation in particular.

`GhlProvider` holds no state of its own; its values are read from settings at the moment they are asked for
(tests and operators change them). One installed copy of it, for one organisation, is a `GhlInstallation`
(`installation.py`), which wraps a `GhlConnection` row.
"""
from urllib.parse import urlencode

from django.conf import settings


class GhlProvider:
    key = "ghl"
    name = "GoHighLevel"

    @property
    def scopes(self) -> list[str]:
        """Asked for on the consent screen (``GHL_SCOPES``)."""
        return list(settings.GHL_SCOPES)

    @property
    def required_scopes(self) -> list[str]:
        """The part of `scopes` the product cannot work without (``GHL_REQUIRED_SCOPES``)."""
        return list(settings.GHL_REQUIRED_SCOPES)

    @property
    def api_base_url(self) -> str:
        return settings.GHL_API_BASE_URL

    @property
    def authorize_base_url(self) -> str:
        """GHL's consent screen (``GHL_AUTHORIZE_URL``)."""
        return settings.GHL_AUTHORIZE_URL

    @property
    def redirect_uri(self) -> str:
        """Where GHL sends the owner back; must equal the URI registered with the Marketplace app."""
        return settings.GHL_REDIRECT_URI

    def authorize_url(self, *, state: str) -> str:
        """Step one of connecting: the consent screen URL carrying our signed ``state`` (see `oauth/README.md`)."""
        query = urlencode(
            {
                "response_type": "code",
                "redirect_uri": self.redirect_uri,
                "client_id": settings.GHL_CLIENT_ID,
                "scope": " ".join(self.scopes),
                "state": state,
                "loginWindowOpenMode": "self",
            }
        )
        return f"{self.authorize_base_url}?{query}"

    def missing_scopes(self, granted: str) -> list[str]:
        """The required scopes absent from GHL's space-separated ``scope`` answer, in `required_scopes` order."""
        granted_set = set((granted or "").split())
        return [scope for scope in self.required_scopes if scope not in granted_set]


GHL = GhlProvider()
