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
# Tests run inside one transaction, which writer threads (other connections) cannot see.
os.environ.setdefault("GHL_SYNC_PULL_APPLY_WORKERS", "1")
# A pull checks for a disconnect before every page, so tests can stop it on an exact page.
os.environ.setdefault("GHL_SYNC_PULL_DISCONNECT_CHECK_SECONDS", "0")
# ...and saves its progress after every page, so a test can crash it after an exact page.
os.environ.setdefault("GHL_SYNC_PULL_PROGRESS_SECONDS", "0")
os.environ.setdefault("GHL_SYNC_PULL_PAGES_PER_WRITE", "1")
os.environ.setdefault("GHL_SYNC_PULL_FROM_BOTH_ENDS", "0")  # one walk: pages in a known order

# Every stored event requests a drain, so tests see each request; the debounce has its own tests.
os.environ.setdefault("GHL_WEBHOOK_DRAIN_DEBOUNCE", "0")

from .base import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
