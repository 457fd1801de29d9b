"""`GhlInstallation(connection).get_client()`: the one way product code gets a GHL client."""
import ast
from pathlib import Path

import pytest
import responses

from ghl_integration.connections import ConnectionInactive
from ghl_integration.installation import GhlInstallation
from ghl_integration.models import GhlConnection
from tests.factories import GhlConnectionFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("agents", "channels_app", "config", "crm", "ghl_integration", "tenancy")
# Where building a client or a connection's token provider is the module's job.
ALLOWED = {
    "ghl_integration/installation.py",  # the one way
    "ghl_integration/connections/tokens.py",  # defines the token provider (and re-mints through an agency's)
}
BUILDERS = {"GhlClient", "connection_token_provider"}


@pytest.fixture
def api(settings):
    with responses.RequestsMock() as mock:
        mock.base = settings.GHL_API_BASE_URL
        yield mock


@pytest.mark.django_db
def test_the_client_is_bound_to_the_location_and_its_stored_token(api):
    connection = GhlConnectionFactory(location_id="loc-7", access_token="stored-token")
    api.get(f"{api.base}/locations/loc-7", json={"location": {"id": "loc-7", "name": "Clinic"}})

    with GhlInstallation(connection).get_client() as client:
        assert client.locations.get("loc-7")["name"] == "Clinic"

    (call,) = api.calls
    assert call.request.headers["Authorization"] == "Bearer stored-token"


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [
    {"status": GhlConnection.Status.DISCONNECTED},
    {"status": GhlConnection.Status.NEEDS_REAUTHORIZATION},
    {"agency": True},
])
def test_an_inactive_or_agency_connection_gets_no_client(api, fields):
    connection = GhlConnectionFactory(**fields)

    with pytest.raises(ConnectionInactive):
        GhlInstallation(connection).get_client()
    assert len(api.calls) == 0


@pytest.mark.django_db
def test_a_disconnect_after_the_client_was_made_stops_its_next_request(api):
    connection = GhlConnectionFactory(location_id="loc-7")
    client = GhlInstallation(connection).get_client()
    GhlConnection.objects.filter(pk=connection.pk).update(status=GhlConnection.Status.DISCONNECTED)

    with pytest.raises(ConnectionInactive):
        client.locations.get("loc-7")
    assert len(api.calls) == 0


@pytest.mark.django_db
def test_a_wrapping_token_provider_is_used_instead(api):
    connection = GhlConnectionFactory(location_id="loc-7", access_token="stored-token")
    api.get(f"{api.base}/locations/loc-7", json={"location": {"id": "loc-7"}})
    installation = GhlInstallation(connection)
    inner = installation.token_provider()
    asked = []

    def relay(force_refresh: bool = False) -> str:
        asked.append(force_refresh)
        return inner(force_refresh)

    installation.get_client(token_provider=relay).locations.get("loc-7")

    assert asked == [False]
    assert api.calls[0].request.headers["Authorization"] == "Bearer stored-token"


def _builder_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in BUILDERS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def _product_modules():
    for package in PRODUCT_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            # The client package builds clients for its callers; migrations hold no product logic.
            if not name.startswith("ghl_integration/client/") and "migrations" not in path.parts:
                yield name, path


def test_product_code_gets_clients_only_through_the_installation():
    modules = dict(_product_modules())
    assert "ghl_integration/contacts/pull.py" in modules  # the scan sees product code
    offenders = [call for name, path in modules.items() if name not in ALLOWED for call in _builder_calls(path)]
    assert offenders == []
