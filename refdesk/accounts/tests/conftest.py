"""Staff login tests run with MFA enforced, as in production, and with fresh rate-limit counters."""

import pytest
from django.core.cache import cache

from refdesk.accounts.choices import Role
from refdesk.accounts.services import user_create

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _mfa_required_and_fresh_counters(settings):
    settings.REFDESK_MFA_REQUIRED = True
    cache.clear()  # allauth's rate limits and used-TOTP markers live in the cache
    yield
    cache.clear()


@pytest.fixture
def admin_user(db):
    """An administrator: is_staff, so the admin is a page they may reach."""
    return user_create(
        username="ada",
        email="ada@example.org",
        role=Role.ADMINISTRATOR,
        password=PASSWORD,
        actor="system:test",
    )


@pytest.fixture
def coordinator(db):
    return user_create(
        username="carl",
        email="carl@example.org",
        role=Role.CLINICAL_OPS_COORDINATOR,
        password=PASSWORD,
        actor="system:test",
    )
