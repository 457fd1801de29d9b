"""AgentLevel settings, read from the environment.

Defaults are production-safe: DEBUG is off and the secrets are required unless DEBUG is on.
`make run` turns DEBUG on and so works on a fresh clone with no configuration at all.
"""
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)  # SQLite file, filesystem broker and sandbox state live here in development

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks; refused when DEBUG is off.
_DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789-abcdefghijklmnop"
_DEV_FIELD_ENCRYPTION_KEY = "dev-insecure-field-encryption-salt"

SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# django-fernet-encrypted-fields derives one Fernet key per (SECRET_KEY, salt) pair; the first salt
# encrypts, every salt (and every SECRET_KEY_FALLBACKS entry) still decrypts, which is how keys rotate.
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[_DEV_FIELD_ENCRYPTION_KEY] if DEBUG else []
)
SALT_KEY = FIELD_ENCRYPTION_KEYS

if not DEBUG:
    _missing = [
        name
        for name, value in (("SECRET_KEY", SECRET_KEY), ("FIELD_ENCRYPTION_KEYS", FIELD_ENCRYPTION_KEYS))
        if not value
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"{', '.join(_missing)} must be set when DEBUG is off (production). "
            "For local development set DEBUG=1, as `make run` does."
        )
    if SECRET_KEY == _DEV_SECRET_KEY or _DEV_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured("The development SECRET_KEY/FIELD_ENCRYPTION_KEYS cannot be used with DEBUG off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    "tenancy",
    "crm",
    "channels_app",
    "ghl_integration",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenancy.middleware.FriendlyMethodNotAllowedMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.workspace",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'agentlevel.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, worker and beat share one SQLite file in development: wait for locks
    # instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

REDIS_URL = env.str("REDIS_URL", default="")

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# Agent tools (agents/): the OpenAPI schema is generated from the tool registry (agents/api/schema.py).
SPECTACULAR_SETTINGS = {
    "TITLE": "AgentLevel agent tools",
    "DESCRIPTION": "Every tool an agent can call, by name. Send `Authorization: Bearer <agent key>`; answers are "
                   "`{ok: true, result}` or `{ok: false, error: {code, message, field?, candidates?, hint?}}`.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",  # JSON Schema 2020-12, the dialect the tools declare (const, type lists)
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["agents.api.schema.agent_paths_only"],
    "POSTPROCESSING_HOOKS": ["agents.api.schema.tools_postprocess"],
}
# How long the changes applied from a connected account stay in a record's sync history (`crm.RemoteChange`).
CRM_SYNC_HISTORY_RETENTION_DAYS = env.int("CRM_SYNC_HISTORY_RETENTION_DAYS", default=90)
# How long a write waits for GHL to confirm before answering `"status": "queued"` (seconds).
AGENT_WRITE_CONFIRM_SECONDS = env.float("AGENT_WRITE_CONFIRM_SECONDS", default=4.0)
# The largest REST tool call body (bytes): a 5 MB file (send_message's limit) is 6.7 MB in base64.
AGENT_TOOL_MAX_BODY_BYTES = env.int("AGENT_TOOL_MAX_BODY_BYTES", default=8 * 1024 * 1024)
# Calls with a missing, unknown or revoked agent key, per client address and minute, before `rate_limited`
# (a key-guessing client); calls with a valid key are never counted here nor refused for it.
AGENT_INVALID_KEY_LIMIT_PER_MINUTE = env.int("AGENT_INVALID_KEY_LIMIT_PER_MINUTE", default=20)
# Reverse proxies in front of the agent API (REST and MCP) that append the client to X-Forwarded-For: the client
# address is the one this many entries from the right. 0: the socket's peer (no proxy, or one that is not trusted).
AGENT_TRUSTED_PROXY_COUNT = env.int("AGENT_TRUSTED_PROXY_COUNT", default=0)

# Security: strict by default when DEBUG is off (manage.py check --deploy is clean).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # The event name, then its context (the call's `extra`) as key=value pairs: config/logging.py.
        "plain": {"()": "config.logging.ContextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

from .agent_runner import *  # noqa: E402,F403  (the agent runner's model and transcription endpoints)
from .celery import *  # noqa: E402,F403  (Celery settings by concern)
from .ghl import *  # noqa: E402,F403  (GoHighLevel integration settings)
from .ghl_oauth import *  # noqa: E402,F403  (GoHighLevel Marketplace app / OAuth settings)
