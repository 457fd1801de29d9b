"""`GhlProvider`: how to connect, read from settings at the moment it is asked."""
from urllib.parse import parse_qs, urlsplit

from ghl_integration.provider import GHL


def test_the_authorize_url_carries_the_app_the_scopes_and_the_state(settings):
    settings.GHL_AUTHORIZE_URL = "https://consent.example/oauth/chooselocation"
    settings.GHL_SCOPES = ["contacts.readonly", "contacts.write"]

    url = urlsplit(GHL.authorize_url(state="signed-state"))

    assert f"{url.scheme}://{url.netloc}{url.path}" == "https://consent.example/oauth/chooselocation"
    assert parse_qs(url.query) == {
        "response_type": ["code"], "redirect_uri": [settings.GHL_REDIRECT_URI], "client_id": [settings.GHL_CLIENT_ID],
        "scope": ["contacts.readonly contacts.write"], "state": ["signed-state"], "loginWindowOpenMode": ["self"],
    }


def test_missing_scopes_are_the_required_ones_not_granted_in_their_order(settings):
    settings.GHL_REQUIRED_SCOPES = ["contacts.readonly", "contacts.write", "locations.readonly"]

    assert GHL.missing_scopes("locations.readonly extra.scope") == ["contacts.readonly", "contacts.write"]
    assert GHL.missing_scopes("") == settings.GHL_REQUIRED_SCOPES
    assert GHL.missing_scopes("contacts.write contacts.readonly locations.readonly") == []


def test_it_is_the_ghl_provider():
    assert (GHL.key, GHL.name) == ("ghl", "GoHighLevel")
