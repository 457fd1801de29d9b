"""One organisation's installed copy of GoHighLevel: the one way product code gets a GHL API client.

`GhlInstallation(connection)` wraps a `GhlConnection` row; it never writes it (the `connections` services do).
"""
from .client import GhlClient, TokenProvider
from .client.base import POOL_SIZE, make_session
from .connections.exceptions import ConnectionInactive
from .connections.tokens import connection_token_provider
from .models import GhlConnection
from .provider import GHL, GhlProvider


class GhlInstallation:
    provider: GhlProvider = GHL

    def __init__(self, connection: GhlConnection):
        self.connection = connection

    def token_provider(self) -> TokenProvider:
        """The connection's tokens for a GHL call: refreshed under its row lock when near expiry, and once after
        a 401 unless another worker already did; `ConnectionInactive` once the connection is not active.
        Agency (Company) connections use it for GHL's OAuth endpoints, which take no location client."""
        return connection_token_provider(self.connection.pk)

    def get_client(self, *, token_provider: TokenProvider | None = None, retry=None, rate_limiter=None,
                   pool_size: int | None = None, on_send=None) -> GhlClient:
        """A client for the connection's location; refuses an inactive or agency connection (no request leaves).

        ``token_provider`` replaces the default `token_provider()`, for a caller that wraps it (the initial
        pull hands its helper threads the token its main thread fetched). ``retry`` and ``rate_limiter`` replace
        the client's defaults (pushes wait for nothing: they are rescheduled). ``pool_size``: connections kept
        open, for a caller with more requests in flight than the default pool holds (the sliced pull); ``on_send()``
        is called as each request leaves (see `make_session`)."""
        if not self.connection.is_active or not self.connection.location_id:
            raise ConnectionInactive(f"GHL connection {self.connection.pk} is {self.connection.status}")
        return GhlClient(
            location_id=self.connection.location_id,
            token_provider=token_provider or self.token_provider(),
            base_url=self.provider.api_base_url,
            retry=retry,
            rate_limiter=rate_limiter,
            session=None if pool_size is None and on_send is None else make_session(
                self.provider.api_base_url, pool_size=pool_size or POOL_SIZE, on_send=on_send),
        )
