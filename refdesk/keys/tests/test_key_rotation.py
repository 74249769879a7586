"""refdesk keys rotate re-encrypts everything under the newest key; old keys can then go."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from refdesk.audit.models import AuditEvent
from refdesk.intake.models import Referral
from refdesk.keys.keyring import field_keys_status
from refdesk.testing import make_referrer, trial_submission
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db


def _raw_lead(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT lead FROM intake_referral WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_rotation_re_encrypts_so_the_old_key_can_be_dropped(settings, capsys):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    referral = referral_submit(
        referrer=referrer, submission=trial_submission(), method="api", actor=referrer
    ).referral
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    token_before = _raw_lead(referral.pk)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert field_keys_status()["intake.Referral.lead"] == (0, 1)

    call_command("keys", "rotate")
    assert "intake.Referral.lead: 1 value(s) re-encrypted" in capsys.readouterr().out
    assert _raw_lead(referral.pk) != token_before
    assert field_keys_status()["intake.Referral.lead"] == (1, 0)
    assert AuditEvent.objects.filter(action="keys.rotated").exists()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert Referral.objects.get(pk=referral.pk).lead["family_name"] == "Quill"


def test_a_value_no_configured_key_opens_is_a_clear_error(settings):
    from refdesk.core.crypto import DecryptionFailed, decrypt_text, encrypt_text

    token = encrypt_text("x")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionFailed, match="REFDESK_FIELD_KEYS"):
        decrypt_text(token)


def test_generate_prints_a_usable_key(capsys):
    call_command("keys", "generate")
    Fernet(capsys.readouterr().out.strip().encode())
