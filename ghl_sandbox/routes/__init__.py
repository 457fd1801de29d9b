"""GHL API routes, one module per resource family. Order matters: literal paths before `{param}` ones."""


def all_routes():
    from . import calendars, companies, contacts, conversations, locations, oauth, opportunities, users

    return [*oauth.ROUTES, *companies.ROUTES, *locations.ROUTES, *users.ROUTES, *contacts.ROUTES, *conversations.ROUTES,
            *opportunities.ROUTES, *calendars.ROUTES]


def register_row_caches(store) -> None:
    """Row caches the store fills as it writes, so that a location's first pull is as cheap as a repeat one."""
    from . import contacts

    store.row_cache("contact", contacts.search_item_json)
