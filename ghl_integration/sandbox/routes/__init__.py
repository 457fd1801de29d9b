"""GHL API routes, one module per resource family. Order matters: literal paths before `{param}` ones."""


def all_routes():
    from . import calendars, contacts, conversations, locations, oauth, opportunities, users

    return [*oauth.ROUTES, *locations.ROUTES, *users.ROUTES, *contacts.ROUTES, *conversations.ROUTES,
            *opportunities.ROUTES, *calendars.ROUTES]
