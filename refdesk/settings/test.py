"""Test settings: fixed throw-away keys, fast hashing. Only speed and determinism differ."""

import os

# Fixed keys so tests are reproducible; they protect nothing.
os.environ.setdefault("REFDESK_ENV", "test")
os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x" * 48)
os.environ.setdefault("REFDESK_FIELD_KEYS", "dGVzdC1maWVsZC1rZXktMDAwMDAwMDAwMDAwMDAwMDA=")
os.environ.setdefault("REFDESK_INDEX_KEY", "test-index-key-" + "y" * 32)
os.environ.setdefault("REFDESK_AUDIT_KEY", "test-audit-key-" + "z" * 32)

from refdesk.settings.base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Each test process keeps its own cache (the database cache's rows would outlive a
# transactional test's flush, which knows only the models' tables); test_deploy_checks uses the
# database cache against the table `migrate` made.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Text messages are kept in memory (LocmemSMSBackend.outbox, emptied before each test).
REFDESK_SMS_BACKEND = "refdesk.outreach.sms.LocmemSMSBackend"
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
# Tests never serve collected static files (no collectstatic run); keep whitenoise quiet.
STATIC_ROOT = None

if DATABASES["default"]["ENGINE"] == "refdesk.core.sqlite3":  # noqa: F405
    # In memory, one database per test process (pytest-django only special-cases the stock
    # engine name when it adds per-worker suffixes).
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}  # noqa: F405
