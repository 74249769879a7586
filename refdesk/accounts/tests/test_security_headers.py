"""Security headers: a Content Security Policy with nonces, no framing, a strict referrer policy;
and `refdesk check --deploy` is clean with production settings."""

import os
import re
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from refdesk.testing import login_with_mfa, make_referrer

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>", re.IGNORECASE)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in (part.strip() for part in header.split(";"))
    }


def _assert_locked_down(response):
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    # Every inline <script> is data (JSON) or carries this response's nonce.
    nonce = next((v for v in policy["script-src"] if v.startswith("'nonce-")), None)
    for attributes in INLINE_SCRIPT.findall(response.content.decode()):
        assert 'type="application/json"' in attributes or (
            nonce and f'nonce="{nonce[7:-1]}"' in attributes
        ), attributes


def test_the_public_intake_page_renders_under_the_policy(client):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    _assert_locked_down(client.get(f"/r/{referrer.code}"))


def test_the_login_page_renders_under_the_policy(client):
    _assert_locked_down(client.get("/accounts/login/"))


def test_the_api_docs_render_under_the_policy(client):
    # ninja's Swagger page loads its scripts from our static files and passes its settings as a
    # JSON data block, so it needs no exemption.
    response = client.get("/api/v1/docs")
    _assert_locked_down(response)
    assert "swagger-ui-bundle.js" in response.content.decode()


def test_the_admin_renders_under_the_policy(client, admin_user):
    login_with_mfa(client, admin_user)
    _assert_locked_down(client.get("/admin/"))
    _assert_locked_down(client.get("/admin/accounts/user/"))


def test_the_totp_enrolment_qr_code_may_be_a_data_uri(client):
    assert "data:" in _policy(client.get("/accounts/login/"))["img-src"]


@pytest.mark.urls("refdesk.accounts.tests.csp_urls")
def test_a_page_that_uses_the_nonce_gets_it_in_its_policy(client):
    first = client.get("/with-script")
    second = client.get("/with-script")
    nonce = re.search(r'nonce="([^"]+)"', first.content.decode()).group(1)
    assert f"'nonce-{nonce}'" in _policy(first)["script-src"]
    assert nonce not in second.content.decode()  # fresh every response


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REFDESK_", "DJANGO_", "DATABASE_", "SECURE_", "DEBUG"))
    }
    env.update(
        REFDESK_ENV="production",
        DJANGO_SETTINGS_MODULE="refdesk.settings.base",
        SECRET_KEY="p" + os.urandom(40).hex(),
        REFDESK_FIELD_KEYS=Fernet.generate_key().decode(),
        REFDESK_INDEX_KEY=os.urandom(24).hex(),
        REFDESK_AUDIT_KEY=os.urandom(24).hex(),
        ALLOWED_HOSTS="refdesk.example.org",
        REFDESK_DATA_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-m", "refdesk", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # A fresh data directory and database: the only issues are the two deployment steps not
    # taken yet (refdesk's own checks, which the deployment test sees pass), no security one.
    output = result.stdout + result.stderr
    issues = set(re.findall(r"^\?: \(([\w.]+)\)", output, re.MULTILINE))
    assert issues == {"refdesk.E001", "refdesk.E003"}, output
    assert "System check identified 2 issues" in output
