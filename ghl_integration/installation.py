"""One connected organization's GHL installation: hands out an API client bound to its tokens."""
from .client import GhlClient
from .models import GhlConnection
from .services.connections import ConnectionInactive, connection_token_provider


class GhlInstallation:
    def __init__(self, connection: GhlConnection):
        self.connection = connection

    def get_client(self) -> GhlClient:
        """A client for the connection's location; refuses inactive connections (no request leaves)."""
        if not self.connection.is_active or not self.connection.location_id:
            raise ConnectionInactive(f"GHL connection {self.connection.pk} is {self.connection.status}")
        return GhlClient(
            location_id=self.connection.location_id, token_provider=connection_token_provider(self.connection.pk)
        )
