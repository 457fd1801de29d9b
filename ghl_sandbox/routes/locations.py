"""Locations and their custom fields (`Version: 2021-07-28`, REFERENCE.md §g)."""
from .. import constants as c
from ..app import route
from ..auth import public

V = c.VERSION_2021_07_28


def get_location(ctx):
    location_id = ctx.check_location(ctx.params["locationId"])
    return 200, {"location": public(ctx.store.get("location", location_id))}


def custom_fields(ctx):
    location_id = ctx.check_location(ctx.params["locationId"])
    model = ctx.query.get("model", "all")
    fields = [public(f) for f in ctx.store.list("customField", location_id) if model == "all" or f["model"] == model]
    return 200, {"customFields": fields}


ROUTES = [
    route("GET", "/locations/{locationId}/customFields", custom_fields, scope="locations/customFields.readonly",
          version=V, auth="any"),
    route("GET", "/locations/{locationId}", get_location, scope="locations.readonly", version=V, auth="any"),
]
