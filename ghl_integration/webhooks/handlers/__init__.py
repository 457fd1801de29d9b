"""Webhook handlers, one module per event family. Registration: see `base.HandlerRegistry`."""
