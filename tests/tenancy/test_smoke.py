def test_home_tells_a_visitor_what_agentlevel_is_and_where_to_start(client):
    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "AgentLevel lets AI agents work in your GoHighLevel account" in page
    assert 'href="/accounts/login/"' in page
    assert 'id="workspace-nav"' not in page
