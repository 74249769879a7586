"""What staff type follows the same text rule as intake (docs/input-rules.md): notes and reasons
in the console, notes written by any workflow service, referrer names given to the CLI."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.intake.models import ReferralNote
from refdesk.intake.notes import note_write
from refdesk.referrers.models import Referrer
from refdesk.referrers.services import partner_key_revoke
from refdesk.testing import action_url, coordinator, login, make_partner, submit, trial

pytestmark = pytest.mark.django_db
SECRET = "Zebulonquartz"


@pytest.fixture
def queued():
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    assert referral.stage == Stage.QUEUED
    return user, referral


@pytest.mark.parametrize(
    ("note", "kind"),
    [
        (f"{SECRET}\x1b[2J cleared", "control character"),
        (f"call {SECRET}\u202e back", "text-direction"),
        (f"{SECRET}\u200b", "invisible"),
    ],
)
def test_a_contact_note_with_a_forbidden_character_is_refused_beside_its_field(
    client, queued, note, kind
):
    user, referral = queued
    response = login(client, user).post(
        action_url(referral, "log_contact"),
        {"party": "lead", "channel": "phone", "outcome": "no_answer", "note": note},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert kind in html and 'href="#f-log_contact-note"' in html
    assert not AuditEvent.objects.filter(action="referral.contact_attempted").exists()
    assert not ReferralNote.objects.exists()


def test_a_multi_line_note_is_kept_with_its_lines(client, queued):
    user, referral = queued
    response = login(client, user).post(
        action_url(referral, "log_contact"),
        {"party": "lead", "channel": "phone", "outcome": "no_answer", "note": "one\r\n\ttwo"},
    )
    assert response.status_code == 302
    assert ReferralNote.objects.get().text == "one\n\ttwo"


def test_the_note_service_refuses_forbidden_characters_whoever_calls_it(queued):
    user, referral = queued
    with pytest.raises(ValidationFailed) as failure:
        note_write(referral=referral, kind="contact", text=f"{SECRET}\x00", actor=user)
    (error,) = failure.value.errors
    assert (error["field"], error["code"]) == ("note", "invalid_characters")
    assert SECRET not in error["message"]


def test_a_referrer_name_with_a_direction_override_is_refused_by_the_cli():
    with pytest.raises(CommandError) as failure:
        call_command(
            "referrer", "add", "--program", "trial-prescreening", "--source",
            "study-coordinator", "--name", f"Dr {SECRET}\u202eeva", stdout=StringIO(),
        )  # fmt: skip
    message = str(failure.value)
    assert "The referrer's name contains a text-direction control character" in message
    assert SECRET not in message
    assert not Referrer.objects.exists()


def test_a_key_is_revoked_even_when_its_reason_holds_a_forbidden_character():
    partner = make_partner("trial-prescreening")
    partner_key_revoke(key=partner.record, actor="system:test", reason="leaked\u202e key\x00")
    partner.record.refresh_from_db()
    assert partner.record.revoked_at is not None
    assert AuditEvent.objects.get(action="partner_key.revoked").reason == "leaked key"
