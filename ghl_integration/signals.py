from django.dispatch import Signal

# Sent by the connect services after a connection became active (connect, reconnect, an agency's location, an
# agency itself) and its row is committed. Argument: `connection`. Sync receives it (`sync/wiring.py`) to load
# the field mapping and queue the initial pull. There is no "deactivated" twin on purpose: every sync entry
# point and the token provider read the connection's status, so a disconnect needs no one to be told.
connection_connected = Signal()
