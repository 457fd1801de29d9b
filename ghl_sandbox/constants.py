"""Fixed values of the sandbox: the registered app, API versions, scopes and the demo ids."""

SANDBOX_CLIENT_ID = "sandboxapp-0001"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"
SANDBOX_APP_ID = SANDBOX_CLIENT_ID.split("-", 1)[0]  # GHL's SDK derives appId as the part before the first "-"
SANDBOX_VERSION_ID = "sbxversion000000000001"
SANDBOX_PLAN_ID = "sbxplan0000000000000001"

# Redirect URIs accepted for the sandbox app unless the control API registers others.
DEFAULT_REDIRECT_PREFIXES = ("http://127.0.0.1:", "http://localhost:", "http://127.0.0.1/", "http://localhost/")

VERSION_2021_07_28 = "2021-07-28"
VERSION_2021_04_15 = "2021-04-15"

DEFAULT_TOKEN_TTL = 86399
AUTH_CODE_TTL = 600
REFRESH_TOKEN_TTL = 365 * 86400

RATE_LIMIT_MAX = 100
RATE_LIMIT_INTERVAL_MS = 10_000
RATE_LIMIT_DAILY = 200_000

WEBHOOK_MAX_RETRIES = 6
WEBHOOK_RETRY_SPACING_S = 600.0
WEBHOOK_TIMEOUT_S = 10.0

LOCATION_SCOPES = (
    "contacts.readonly contacts.write conversations.readonly conversations.write "
    "conversations/message.readonly conversations/message.write opportunities.readonly opportunities.write "
    "calendars.readonly calendars.write calendars/events.readonly calendars/events.write locations.readonly "
    "locations/customFields.readonly locations/customFields.write users.readonly"
).split()
# Granted to agency (Company) tokens only: a sub-account install asking for them gets a token without them.
AGENCY_ONLY_SCOPES = ("companies.readonly",)
COMPANY_SCOPES = [*LOCATION_SCOPES, "oauth.readonly", "oauth.write", *AGENCY_ONLY_SCOPES]

DEMO_COMPANY_ID = "SbxDemoCompany000001"
DEMO_LOCATION_ID = "SbxDemoLocation000001"
DEMO_LOCATION_NAME = "AgentLevel Demo Dental"
DEMO_USER_ID = "SbxDemoUser000000001"
DEMO_PIPELINE_ID = "SbxDemoPipeline00001"
DEMO_CALENDAR_ID = "SbxDemoCalendar00001"
