"""The agency (company) itself: `GET /companies/{companyId}` (`Version: 2021-07-28`).

GHL's Companies API: an agency token (`Agency-Access`) with `companies.readonly`, for its own company only;
answers `{"company": {id, name, email, phone, website, domain, address, city, state, country, postalCode,
timezone, logoUrl, ...}}`. A location token is refused (401, as for every agency-only route here).
"""
from .. import constants as c
from ..app import route
from ..auth import public
from ..errors import bad_request, forbidden

FIELDS = ("id", "name", "email", "phone", "website", "domain", "address", "city", "state", "country", "postalCode",
          "timezone", "logoUrl")


def get_company(ctx):
    company_id = ctx.params["companyId"]
    if company_id != ctx.token["companyId"]:
        raise forbidden("The token does not have access to this company.")
    company = ctx.store.get("company", company_id)
    if company is None:
        raise bad_request("Company not found")
    doc = public(company)
    return 200, {"company": {key: doc.get(key, "") for key in FIELDS}}


ROUTES = [
    route("GET", "/companies/{companyId}", get_company, scope="companies.readonly", version=c.VERSION_2021_07_28,
          auth="company"),
]
