"""Channel providers: the interface (`base.py`), the registry (`registry.py`) and the `console` provider."""
