"""What the connection services raise; callers show `ConnectError.user_message` or stop GHL work."""


class ConnectionInactive(Exception):
    """The connection is not active (disconnected, uninstalled or needs reauthorization): no GHL calls."""


class ConnectionNeedsReauthorization(ConnectionInactive):
    """GHL refused the refresh token (`invalid_grant`): the owner must connect again."""


class ConnectError(Exception):
    """The connect flow failed; `user_message` is shown to the owner as is."""

    def __init__(self, user_message: str, *, reason: str):
        super().__init__(reason)
        self.user_message = user_message
        self.reason = reason
