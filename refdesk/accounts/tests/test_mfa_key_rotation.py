"""TOTP secrets and recovery-code seeds are encrypted with the field keys and follow a key
rotation: after ``refdesk keys rotate``, the old key can go and staff still sign in."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from cryptography.fernet import Fernet
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.db import connection

from refdesk.accounts.mfa import user_totp_provision
from refdesk.accounts.tests.conftest import PASSWORD
from refdesk.accounts.tests.totp import SECRET, current_code
from refdesk.audit.models import AuditEvent
from refdesk.core.crypto import decrypt_text
from refdesk.keys.keyring import field_keys_status

pytestmark = pytest.mark.django_db

LABEL = "mfa.Authenticator.data"


def raw_rows() -> list[str]:
    """The authenticator rows as stored, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def enrolled(admin_user):
    """ada with a TOTP authenticator and recovery codes, stored under the current key."""
    user_totp_provision(user=admin_user, secret=SECRET, actor="system:test")
    codes = RecoveryCodes.activate(admin_user).generate_codes()
    return admin_user, codes


def sign_in(client, code: str) -> bool:
    client.post("/accounts/login/", {"login": "ada", "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": code})
    signed_in = SESSION_KEY in client.session
    client.logout()
    return signed_in


def test_the_stored_rows_hold_no_plaintext_secret_or_seed(enrolled):
    seed = decrypt_text(Authenticator.objects.get(type="recovery_codes").data["seed"])
    stored = "\n".join(raw_rows())
    assert SECRET not in stored and SECRET.lower() not in stored
    assert seed not in stored


def test_after_rotation_the_old_key_can_go_and_staff_still_sign_in(
    client, enrolled, settings, capsys
):
    _, recovery_codes = enrolled
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    before = raw_rows()
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert field_keys_status()[LABEL] == (0, 2)  # TOTP secret and recovery-code seed

    call_command("keys", "rotate")
    assert f"{LABEL}: 2 value(s) re-encrypted" in capsys.readouterr().out
    assert field_keys_status()[LABEL] == (2, 0)
    assert raw_rows() != before and SECRET not in "\n".join(raw_rows())
    event = AuditEvent.objects.filter(action="keys.rotated", subject_id=LABEL).get()
    assert event.changes["rows"]["new"] == 2

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is retired
    assert sign_in(client, current_code())
    assert sign_in(client, recovery_codes[0])


def test_keys_status_reports_the_authenticators(enrolled, capsys):
    call_command("keys", "status")
    assert f"{LABEL}: 2 under the newest key, 0 older" in capsys.readouterr().out


def test_rotation_keeps_recovery_codes_already_used(client, enrolled, settings):
    _, recovery_codes = enrolled
    assert sign_in(client, recovery_codes[0])
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("keys", "rotate")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert not sign_in(client, recovery_codes[0])  # still used up
    assert sign_in(client, recovery_codes[1])
