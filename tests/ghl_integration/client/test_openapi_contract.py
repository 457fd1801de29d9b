"""The contract helper itself: it must catch real mistakes, and a named gap must excuse only what it describes."""

import pytest

from tests.ghl_integration.openapi_contract import (
    ContractError,
    find_operation,
    validate_request,
    validate_response,
)

AUTH = {"Authorization": "Bearer t", "Version": "2021-07-28"}
AUTH_V2 = {"Authorization": "Bearer t", "Version": "2021-04-15"}


@pytest.mark.parametrize(
    ("method", "path", "operation_id"),
    [
        ("GET", "/conversations/messages/export", "export-messages-by-location"),
        ("GET", "/conversations/messages/m1", "get-message"),
        ("GET", "/conversations/c1/messages", "get-messages"),
        ("GET", "/calendars/events", "get-calendar-events"),
        ("GET", "/calendars/cal1", "get-calendar"),
        ("POST", "/contacts/", "create-contact"),
        ("GET", "/contacts/search/duplicate", "get-duplicate-contact"),
    ],
)
def test_literal_segments_win_over_parameters(method, path, operation_id):
    assert find_operation(method, path)[0].operation_id == operation_id


def test_unknown_operation_is_an_error():
    with pytest.raises(ContractError, match="no such operation"):
        validate_request("GET", "/contacts/c1/nonsense", {}, AUTH)


def test_wrong_version_missing_auth_and_param_naming_are_caught():
    with pytest.raises(ContractError) as info:
        validate_request("GET", "/opportunities/search", {"locationId": ["l1"]}, {"Version": "2021-04-15"})
    text = str(info.value)
    assert "'2021-04-15' is not one of ['2021-07-28']" in text
    assert "'location_id' is required" in text
    assert "'locationId' is not declared" in text
    assert "Authorization" in text


def test_query_values_are_type_checked_after_coercion():
    validate_request("GET", "/calendars/cal1/free-slots", {"startDate": ["1"], "endDate": ["2"]}, AUTH_V2)
    with pytest.raises(ContractError, match="startDate"):
        validate_request("GET", "/calendars/cal1/free-slots", {"startDate": ["soon"], "endDate": ["2"]}, AUTH_V2)


def test_body_schema_and_media_type_are_checked():
    with pytest.raises(ContractError, match="'pipelineId' is a required property"):
        validate_request("POST", "/opportunities/", {}, AUTH, {"name": "x", "status": "open", "contactId": "c"})
    with pytest.raises(ContractError, match="content type"):
        validate_request(
            "POST", "/oauth/locationToken", {}, {**AUTH, "Content-Type": "application/json"}, {"companyId": "c"}
        )


def test_token_endpoint_takes_no_bearer_and_no_version():
    form = {"client_id": "a", "client_secret": "b", "grant_type": "authorization_code", "code": "c"}
    ct = {"Content-Type": "application/x-www-form-urlencoded"}
    validate_request("POST", "/oauth/token", {}, ct, form)
    with pytest.raises(ContractError, match="Authorization header sent"):
        validate_request("POST", "/oauth/token", {}, {**ct, "Authorization": "Bearer t"}, form)
    with pytest.raises(ContractError, match="Version header sent"):
        validate_request("POST", "/oauth/token", {}, {**ct, "Version": "2021-07-28"}, form)


def test_a_gap_excuses_only_what_it_names():
    body = {"pipelineId": "p", "locationId": "l", "contactId": "c"}
    validate_request("POST", "/opportunities/upsert", {}, AUTH, body, gaps=["opportunity-upsert-2025"])
    with pytest.raises(ContractError, match="'pipelineId' is a required property"):
        validate_request(
            "POST", "/opportunities/upsert", {}, AUTH, {"locationId": "l"}, gaps=["opportunity-upsert-2025"]
        )
    with pytest.raises(ContractError, match="followers"):
        validate_request("POST", "/opportunities/upsert", {}, AUTH, body)
    with pytest.raises(ContractError, match="unknown gap"):
        validate_request("POST", "/opportunities/upsert", {}, AUTH, body, gaps=["made-up"])


def test_contacts_search_body_is_checked_against_reference():
    body = {"locationId": "l", "pageLimit": 100, "page": 2, "searchAfter": [1, "a"]}
    with pytest.raises(ContractError, match="REFERENCE"):
        validate_request("POST", "/contacts/search", {}, AUTH, body, gaps=["contacts-search-body-untyped"])
    with pytest.raises(ContractError, match="name gap"):
        validate_request("POST", "/contacts/search", {}, AUTH, {"locationId": "l", "pageLimit": 10})


def test_responses_are_checked_for_documented_statuses():
    validate_response("DELETE", "/calendars/events/e1", 201, {"succeeded": True})
    with pytest.raises(ContractError, match="status 200 not documented"):
        validate_response("DELETE", "/calendars/events/e1", 200, {"succeeded": True})
    with pytest.raises(ContractError, match="succeded"):
        validate_response("DELETE", "/contacts/c1", 200, {"succeded": "yes"})
    validate_response("GET", "/contacts/c1", 429, {"anything": "goes"})  # undocumented error statuses are not checked
