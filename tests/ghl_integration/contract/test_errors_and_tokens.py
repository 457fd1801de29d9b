"""Errors map to typed exceptions, and the token-provider contract holds, against the sandbox over HTTP."""
import pytest

from ghl_integration.client import GhlAuthError, GhlNotFound, GhlValidationError
from ghl_sandbox import constants as c

OTHER_LOCATION = "SbxOtherLocation0001"


def test_a_wrong_token_is_refreshed_once_then_auth_error(make_client, recorder):
    calls = []

    def provider(force_refresh=False):
        calls.append(force_refresh)
        return "not-a-token"

    with pytest.raises(GhlAuthError) as exc:
        make_client(provider).contacts.search(page_limit=1)

    assert exc.value.status == 401 and exc.value.request_id
    assert calls == [False, True]
    assert recorder.statuses() == [401, 401]
    assert "not-a-token" not in repr(exc.value) and "not-a-token" not in str(exc.value)


def test_another_locations_ids_are_not_found(sandbox, ghl):
    sandbox.control.seed(locationId=OTHER_LOCATION, companyId=c.DEMO_COMPANY_ID, name="Other", contacts=3)
    theirs = sandbox.control.objects("contact", location_id=OTHER_LOCATION)[0]
    their_calendar = sandbox.control.objects("calendar", location_id=OTHER_LOCATION)[0]

    with pytest.raises(GhlNotFound) as contact_exc:
        ghl.contacts.get(theirs["id"])
    with pytest.raises(GhlNotFound):
        ghl.contacts.update(theirs["id"], {"city": "Nope"})
    with pytest.raises(GhlNotFound):
        ghl.calendars.get(their_calendar["id"])

    assert contact_exc.value.status == 404
    assert sandbox.control.objects("contact", theirs["id"])["city"] == theirs["city"]


def test_missing_required_fields_are_validation_errors(ghl, recorder):
    contact = ghl.contacts.create({"firstName": "Val", "phone": "+15035550190"})

    with recorder.unchecked_requests():  # these requests break the spec on purpose
        with pytest.raises(GhlValidationError) as missing_name:
            ghl.opportunities.create({"pipelineId": c.DEMO_PIPELINE_ID, "status": "open",
                                      "contactId": contact["id"]})
        with pytest.raises(GhlValidationError) as missing_start:
            ghl.calendars.create_appointment({"calendarId": c.DEMO_CALENDAR_ID, "contactId": contact["id"]})
    with pytest.raises(GhlValidationError) as empty_sms:
        ghl.conversations.send_message({"type": "SMS", "contactId": contact["id"]})

    assert missing_name.value.status == 422 and "name should not be empty" in missing_name.value.messages
    assert missing_start.value.status == 422 and "startTime should not be empty" in missing_start.value.messages
    assert empty_sms.value.status == 400 and empty_sms.value.messages


def test_expired_token_one_401_one_forced_refresh_then_the_retry_succeeds(sandbox, ghl, tokens, recorder):
    ghl.locations.get()
    before = tokens.tokens["access_token"]
    sandbox.control.clear_request_log()

    sandbox.control.expire_tokens()
    contact = ghl.contacts.get(sandbox.control.objects("contact", location_id=c.DEMO_LOCATION_ID)[0]["id"])

    log = sandbox.control.request_log()
    assert contact["id"]
    assert tokens.calls == [False, False, True] and tokens.refreshes == 1  # the retry uses the forced token
    assert tokens.tokens["access_token"] != before
    assert [(r["path"], r["status"]) for r in log] == [
        (f"/contacts/{contact['id']}", 401),
        ("/oauth/token", 200),
        (f"/contacts/{contact['id']}", 200),
    ]
    assert len(sandbox.control.request_log(grant_type="refresh_token")) == 1


def test_a_token_without_the_scope_is_an_auth_error(make_tokens, make_client):
    tokens = make_tokens(locationId=c.DEMO_LOCATION_ID, scope="contacts.readonly")
    client = make_client(tokens)

    assert client.contacts.search(page_limit=1)["total"] == 50
    with pytest.raises(GhlAuthError) as exc:
        client.opportunities.pipelines()

    assert exc.value.status == 401 and "scope" in str(exc.value)
    assert tokens.refreshes == 1  # asked once for a fresh token; the fresh one has the same scopes
