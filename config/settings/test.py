"""Test settings: the base settings with development secrets and an eager-free, fast setup.

DATABASE_URL, CELERY_BROKER_URL and REDIS_URL still come from the environment, so CI runs the suite on
PostgreSQL and Redis while a fresh clone runs it on SQLite.
"""
import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "test-field-encryption-salt")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# Tests talk to the local GHL sandbox, never to GoHighLevel.
os.environ.setdefault("GHL_ALLOW_SANDBOX", "1")
# Tests sign webhook bodies with the sandbox dev keys, so trust them next to GHL's published keys.
os.environ.setdefault("GHL_WEBHOOK_TRUST_SANDBOX_KEYS", "1")
# Connecting does not queue the initial contact pull in tests (no worker); sync tests switch it on.
os.environ.setdefault("GHL_SYNC_PULL_ON_CONNECT", "0")

from .base import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A test-only model for a toy second kind of record (tests/crm/sync/test_second_kind.py) (its own migration).
INSTALLED_APPS = [*INSTALLED_APPS, "tests.toy_kind"]  # noqa: F405
