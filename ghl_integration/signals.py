from django.dispatch import Signal

# Sent by the connect services after a connection became active (connect, reconnect, an agency's location, an
# agency itself) and its row is committed. Argument: `connection`. Each kind of record receives it (its
# declaration's `on_connected`, `sync/registry.py`: the field mapping, the mirror, the first pull), then the push
# worker (`sync/wiring.py`) pushes what waited. There is no "deactivated" twin on purpose: every sync entry
# point and the token provider read the connection's status, so a disconnect needs no one to be told.
connection_connected = Signal()
