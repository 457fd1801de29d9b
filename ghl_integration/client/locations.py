"""Locations (sub-accounts) and their custom fields (``Version: 2021-07-28``). REFERENCE.md §g."""

from __future__ import annotations

from .base import Resource, seg
from .types import CustomField, Location

CUSTOM_FIELD_MODELS = ("contact", "opportunity", "all")


class LocationsApi(Resource):
    def get(self, location_id: str | None = None) -> Location:
        """``GET /locations/{id}`` → the location (default: the one the client is bound to)."""
        return self._get(f"/locations/{seg(location_id or self.location_id)}")["location"]

    def custom_fields(self, *, model: str | None = None) -> list[CustomField]:
        """``GET /locations/{id}/customFields`` → field definitions (``id``, ``name``, ``fieldKey``, ``dataType``)."""
        if model is not None and model not in CUSTOM_FIELD_MODELS:
            raise ValueError(f"model must be one of {CUSTOM_FIELD_MODELS}")
        data = self._get(f"/locations/{seg(self.location_id)}/customFields", {"model": model})
        return list(data.get("customFields") or [])
