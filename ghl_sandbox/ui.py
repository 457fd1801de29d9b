"""The consent page a person (or a browser test) clicks through: GET /oauth/chooselocation (and /v2/...).

Stable hooks for automation: `<select name="location_id" id="location">` (the value `company:<id>` installs
at agency level), `<button name="decision" value="approve" id="approve">` and `... value="deny" id="deny">`.
"""
import html
from urllib.parse import urlencode

from werkzeug.wrappers import Response

from . import auth
from . import constants as c

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>GHL sandbox - choose location</title></head>
<body>
<h1>Connect {app} to your account</h1>
<p>The app asks for: <code id="scopes">{scopes}</code></p>
<form method="post" action="{action}" id="consent">
{hidden}
<label for="location">Account</label>
<select name="location_id" id="location">{options}</select>
<button type="submit" name="decision" value="approve" id="approve">Approve</button>
<button type="submit" name="decision" value="deny" id="deny">Deny</button>
</form>
</body></html>
"""
ERROR_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>GHL sandbox - error</title></head>
<body><h1 id="error">{message}</h1></body></html>"""
PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state")


def _error(message: str, status: int = 400) -> Response:
    return Response(ERROR_PAGE.format(message=html.escape(message)), status=status, content_type="text/html")


def _redirect(uri: str, params: dict) -> Response:
    sep = "&" if "?" in uri else "?"
    return Response("", status=302, headers={"Location": uri + sep + urlencode(params)})


def chooselocation(sandbox, request) -> Response:
    values = request.form if request.method == "POST" else request.args
    params = {k: values.get(k, "") for k in PARAMS}
    client = sandbox.config["clients"].get(params["client_id"])
    if client is None:
        return _error("Unknown client_id")
    if not auth.redirect_allowed(sandbox, client, params["redirect_uri"]):
        return _error("redirect_uri is not registered for this app")
    if params["response_type"] != "code":
        return _error("response_type must be code")
    if request.method == "GET":
        return _page(sandbox, request, params)
    state = {"state": params["state"]} if params["state"] else {}
    if request.form.get("decision") != "approve":
        return _redirect(params["redirect_uri"], {"error": "access_denied", **state})
    choice = request.form.get("location_id", "")
    scopes = params["scope"].split() or list(c.LOCATION_SCOPES)
    if choice.startswith("company:"):
        company = sandbox.store.get("company", choice.split(":", 1)[1])
        if company is None:
            return _error("Unknown company")
        user_type, location_id, company_id = "Company", None, company["id"]
        user_id = company.get("_ownerUserId")
    else:
        loc = sandbox.store.get("location", choice)
        if loc is None:
            return _error("Unknown location")
        user_type, location_id, company_id, user_id = "Location", loc["id"], loc["companyId"], loc.get("_ownerUserId")
        scopes = [s for s in scopes if s not in c.AGENCY_ONLY_SCOPES]
    code = auth.issue_code(sandbox, client_id=params["client_id"], redirect_uri=params["redirect_uri"],
                           user_type=user_type, location_id=location_id, company_id=company_id,
                           user_id=user_id or "", scopes=scopes)
    auth.install(sandbox, location_id=location_id, company_id=company_id, user_id=user_id)
    return _redirect(params["redirect_uri"], {"code": code, **state})


def _page(sandbox, request, params) -> Response:
    # As GHL's own chooser: the sub-accounts first, the one the person is in (the demo location) pre-selected,
    # the agency-wide install last, so approving without choosing installs on the sub-account.
    locations = sorted(sandbox.store.list("location"), key=lambda loc: loc["id"] != c.DEMO_LOCATION_ID)
    options = []
    for i, loc in enumerate(locations):
        options.append(f'<option value="{html.escape(loc["id"])}"{" selected" if i == 0 else ""}>'
                       f'{html.escape(loc["name"])}</option>')
    for company in sandbox.store.list("company"):
        options.append(f'<option value="company:{html.escape(company["id"])}">'
                       f'Agency: {html.escape(company["name"])} (every sub-account)</option>')
    hidden = "\n".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items())
    body = PAGE.format(app=html.escape(params["client_id"]), scopes=html.escape(params["scope"]),
                       action=html.escape(request.path), hidden=hidden, options="".join(options))
    return Response(body, content_type="text/html")
