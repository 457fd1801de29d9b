"""GoHighLevel integration settings (the client, the sandbox, OAuth and webhooks add to this module)."""
import environ

_env = environ.Env()

GHL_ENABLED = _env.bool("GHL_ENABLED", default=True)
GHL_API_BASE_URL = _env.str("GHL_API_BASE_URL", default="https://services.leadconnectorhq.com")
