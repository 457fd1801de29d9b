"""Reading parts of the product's server-rendered pages in tests, as their owner sees them."""


def contact_inbound_history(client, org, contact, *, required: bool = False) -> str:
    """The contact page's "changes from the remote" section, as the organisation's owner sees it; '' when the page
    has none (``required``: fail instead)."""
    client.force_login(org.memberships.get().user)
    response = client.get(f"/orgs/{org.pk}/contacts/{contact.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    if 'id="contact-inbound-history"' not in html:
        assert not required, "no inbound history on the page"
        return ""
    return html[html.index('id="contact-inbound-history"'):html.index('id="contact-conflicts"')]
