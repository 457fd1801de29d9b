"""Connection lifecycle (see README.md): connect / agency locations, tokens, install state, disconnect.

Import from here; the submodules are split by sub-domain.
"""
from .connect import (
    ConnectResult,
    agency_installed_locations,
    connection_add_agency_location,
    connection_connect_from_code,
)
from .disconnect import connection_disconnect
from .exceptions import ConnectError, ConnectionInactive, ConnectionNeedsReauthorization
from .install_state import app_install_state_record, app_installed, app_uninstalled
from .tokens import (
    USE_MARGIN,
    connection_access_token,
    connection_refresh_tokens,
    connection_token_provider,
    connections_refresh_expiring,
)

__all__ = [
    "USE_MARGIN",
    "ConnectError",
    "ConnectResult",
    "ConnectionInactive",
    "ConnectionNeedsReauthorization",
    "agency_installed_locations",
    "app_install_state_record",
    "app_installed",
    "app_uninstalled",
    "connection_access_token",
    "connection_add_agency_location",
    "connection_connect_from_code",
    "connection_disconnect",
    "connection_refresh_tokens",
    "connection_token_provider",
    "connections_refresh_expiring",
]
