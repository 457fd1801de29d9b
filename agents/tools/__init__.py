"""Agent tools: the registry (`registry.py`), the dispatcher every surface calls (`dispatch.py`), name
resolution (`resolve.py`), the bounded wait for GHL's confirmation of a write (`confirm.py`), and one module
per tool family. A family module registers its tools when imported; add it to FAMILY_MODULES.
"""
import importlib

FAMILY_MODULES = (
    "agents.tools.contacts",
    "agents.tools.calendar",
    "agents.tools.messaging",
    "agents.tools.opportunities",
    "agents.tools.context",
)

_loaded = False


def load_tools() -> None:
    """Import every family module once (from `AgentsConfig.ready()`), in this fixed order."""
    global _loaded
    if _loaded:
        return
    for module in FAMILY_MODULES:
        importlib.import_module(module)
    _loaded = True
