"""The rate limits hold for calls that go nowhere: a misspelt tool counts against its key, and missing, unknown or
revoked keys are limited per client address (REST and MCP), without penalising valid keys from that address or
the key an invalid one imitates."""
import json

import httpx2
import pytest

from agents.models import ApiKey
from agents.services import api_key_revoke
from tests.agents.test_surfaces import mcp_session, mcp_url  # noqa: F401  (the MCP server fixture)


@pytest.fixture
def limited(settings):
    settings.AGENT_INVALID_KEY_LIMIT_PER_MINUTE = 3
    return 3


def rest(client, key, tool="find_contact", body=None, **meta):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    response = client.post(f"/api/agent/tools/{tool}/", data=json.dumps(body or {"query": "x"}),
                           content_type="application/json", **extra, **meta)
    return response


@pytest.mark.django_db
def test_calls_of_a_misspelt_tool_count_against_the_key(client, agent, key):
    ApiKey.objects.filter(agent=agent).update(rate_limit_per_minute=3)
    for _ in range(3):
        response = rest(client, key, tool="find_contat")
        assert response.status_code == 404 and response.json()["error"]["field"] == "tool"
    response = rest(client, key)
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert rest(client, key, tool="find_contat").status_code == 429


@pytest.mark.django_db
def test_a_key_guessing_client_is_rate_limited_per_address_over_rest(client, agent, key, limited):
    guesses = [None, "al_00000000_guess", "al_12345678_another-guess"]
    # given: a client that sent as many invalid keys as its address may
    assert [rest(client, g).status_code for g in guesses] == [401, 401, 401]
    # when: it guesses again, on any endpoint
    response = rest(client, "al_deadbeef_yet-another")
    listing = client.get("/api/agent/tools/", HTTP_AUTHORIZATION="Bearer al_deadbeef_x")
    # then: JSON, 429, with Retry-After
    error = response.json()["error"]
    assert response.status_code == 429 and response["Content-Type"] == "application/json"
    assert error["code"] == "rate_limited" and 1 <= error["retry_after"] <= 60
    assert response["Retry-After"] == str(error["retry_after"])
    assert listing.status_code == 429 and listing.json()["error"]["code"] == "rate_limited"
    run = client.post("/api/agent/runs/", data=json.dumps({"instruction": "hi"}), content_type="application/json",
                      HTTP_AUTHORIZATION="Bearer al_deadbeef_x")
    assert run.status_code == 429 and run.json()["error"]["code"] == "rate_limited"
    # and a valid key from the same address is not penalised, nor another address's mistake
    assert rest(client, key).status_code == 200
    assert client.get("/api/agent/tools/", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert rest(client, "al_00000000_typo", REMOTE_ADDR="192.0.2.44").status_code == 401


@pytest.mark.django_db
def test_a_revoked_key_counts_as_an_invalid_one(client, agent, key, limited):
    api_key_revoke(api_key=ApiKey.objects.get(agent=agent))
    assert [rest(client, key).status_code for _ in range(4)] == [401, 401, 401, 429]


@pytest.mark.django_db
def test_invalid_keys_imitating_a_real_one_do_not_spend_its_budget(client, agent, key):
    ApiKey.objects.filter(agent=agent).update(rate_limit_per_minute=2)
    prefix = ApiKey.objects.get(agent=agent).prefix
    for _ in range(5):
        assert rest(client, f"al_{prefix}_wrong-secret", REMOTE_ADDR="198.51.100.9").status_code == 401
    assert [rest(client, key).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(client, key, limited, settings):
    settings.AGENT_TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    # the guesser writes its own X-Forwarded-For entries; only the one the proxy appended counts
    for n in range(3):
        assert rest(client, "al_00000000_guess", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.5",
                    **proxy).status_code == 401
    assert rest(client, "al_00000000_guess", HTTP_X_FORWARDED_FOR="1.2.3.9, 203.0.113.5",
                **proxy).status_code == 429
    # another client behind the same proxy mistypes its key: not limited for the guesser's calls
    assert rest(client, "al_00000000_typo", HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 401
    assert rest(client, key, HTTP_X_FORWARDED_FOR="203.0.113.5", **proxy).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_key_guessing_client_is_rate_limited_over_mcp(agent, key, mcp_url, limited):  # noqa: F811
    def list_tools(bearer):
        return httpx2.post(mcp_url, headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"},
                           json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})

    assert [list_tools(f"al_0000000{n}_guess").status_code for n in range(3)] == [401, 401, 401]
    response = list_tools("al_00000009_guess")
    error = response.json()["error"]
    assert response.status_code == 429 and response.headers["content-type"] == "application/json"
    assert error["code"] == "rate_limited" and response.headers["retry-after"] == str(error["retry_after"])
    # a valid key from the same address still works
    assert "find_contact" in [t.name for t in mcp_session(mcp_url, key, lambda c: c.list_tools()).tools]


@pytest.mark.django_db(transaction=True)
def test_calls_of_a_misspelt_tool_over_mcp_count_against_the_key(agent, key, mcp_url):  # noqa: F811
    ApiKey.objects.filter(agent=agent).update(rate_limit_per_minute=2)

    async def work(client):
        return [await client.call_tool(name, {"query": "x"}) for name in ("find_contat", "find_contat",
                                                                         "find_contact")]

    misspelt, again, real = mcp_session(mcp_url, key, work)
    assert misspelt.is_error and misspelt.structured_content["error"]["code"] == "not_found"
    assert again.structured_content["error"]["code"] == "not_found"
    assert real.is_error and real.structured_content["error"]["code"] == "rate_limited"
