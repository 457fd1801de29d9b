from django.dispatch import Signal

# Sent when a connection stops being active (disconnected, uninstalled, needs reauthorization), after the
# change is committed. Sync machinery listens to cancel scheduled work. Arguments: `connection`, `reason`.
connection_deactivated = Signal()
