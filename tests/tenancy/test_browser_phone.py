"""The workspace on a phone: no page is wider than a 375-pixel screen (Debian's chromium driven by Playwright)."""
import pytest

from crm.services.contacts import contact_create
from crm.sync.models import FieldMapping
from tenancy.services import organization_create, user_create
from tests.ghl_integration.oauth.test_browser_connect import open_browser  # noqa: F401  (the browser fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PHONE = {"width": 375, "height": 740}


@pytest.mark.django_db(transaction=True)
def test_no_page_is_wider_than_a_phone(open_browser, live_server):  # noqa: F811
    owner = user_create(username="phone-owner", password="pw-phone-123456")
    org = organization_create(name="Bright Smiles Family Dentistry of Greater Portland", owner=owner)
    contact = contact_create(organization=org, first_name="Maximiliana", last_name="Featherstonehaugh-Worthington",
                             email="maximiliana.featherstonehaugh-worthington@a-very-long-domain.example",
                             phone="+15035550142", tags=["vip", "invisalign", "new-patient", "referral"],
                             custom_properties={"preferred_dentist": "Dr. Bartholomew Montgomery-Smythe"})
    # GHL custom fields the contact form offers: a picklist with long values and several checkboxes
    for n, (key, label, data_type, options) in enumerate((
            ("preferred_dentist", "Preferred dentist", "text", []),
            ("insurance", "Insurance provider of the primary policy holder", "text",
             ["Blue Cross Blue Shield of Oregon Federal Employee Program", "Delta Dental"]),
            ("services", "Services of interest", "list", ["Cleaning", "Whitening", "Invisalign clear aligners"]))):
        FieldMapping.objects.create(organization=org, provider="ghl", account_id="loc-phone", object_type="contact",
                                    remote_key=f"customFields.F{n}", remote_label=label,
                                    local_field=f"custom_properties.{key}", data_type=data_type, options=options)
    pages = ["/", f"/orgs/{org.pk}/contacts/", f"/orgs/{org.pk}/contacts/{contact.pk}/",
             f"/orgs/{org.pk}/contacts/{contact.pk}/edit/", f"/orgs/{org.pk}/integrations/ghl/",
             f"/orgs/{org.pk}/sync/inbox/", f"/orgs/{org.pk}/calendars/", "/no/such/page/"]
    page = open_browser()
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "phone-owner")
    page.fill("#id_password", "pw-phone-123456")
    page.click("button[type=submit]")

    too_wide = {}
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            too_wide[path] = width
    assert too_wide == {}
