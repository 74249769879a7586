"""Consent services: recorded at intake and later, withdrawn per purpose and channel (all of it
closes the work), expired after the program's validity period; ``consent_current`` is what every
reader sees. The trial program's consent covers trial_contact on phone and email, valid 365 days.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from refdesk.audit.models import AuditEvent
from refdesk.consent.choices import ConsentEvent, ConsentState
from refdesk.consent.models import ConsentRecord
from refdesk.consent.selectors import consent_current, consent_history
from refdesk.core.errors import ApplicationError, InvalidTransition, ValidationFailed
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.routing.selectors import latest_decision
from refdesk.testing import latest_consent_version, submit, support, trial
from refdesk.workflow.consent import (
    consent_expire,
    consent_expire_due,
    consent_record,
    consent_withdraw,
)
from refdesk.workflow.contact import lead_contact_check

pytestmark = pytest.mark.django_db

AGENT = "user:paula.agent"


@pytest.fixture
def patient():
    return submit("trial-prescreening", trial(1))


def _stored(referral) -> Referral:
    return Referral.objects.select_related("program_version").get(pk=referral.pk)


def _allowed(referral, channel) -> str:
    return lead_contact_check(referral=_stored(referral), channel=channel).reason


def test_consent_given_at_intake_is_current_and_expires_after_the_programs_validity(patient):
    current = consent_current(patient)
    assert current.state == ConsentState.GRANTED
    assert (current.purposes, current.channels) == (("trial_contact",), ("email", "phone"))
    assert current.expires_at == patient.received_at + timedelta(days=365)
    [record] = consent_history(patient)
    assert record.event == ConsentEvent.GIVEN


def test_withdrawing_one_channel_keeps_the_others_and_the_work_open(patient):
    consent_withdraw(referral=patient, channels=["email"], reason="lead_request", actor=AGENT)
    assert _allowed(patient, "email") == "channel_not_consented"
    assert _allowed(patient, "phone") == "ok"
    assert _stored(patient).stage == Stage.QUEUED
    given, withdrawal = consent_history(patient)
    assert (withdrawal.event, withdrawal.withdrawn_channels, withdrawal.channels) == (
        ConsentEvent.WITHDRAWN,
        ["email"],
        ["phone"],
    )
    event = AuditEvent.objects.get(action="consent.withdrawn", subject_id=str(patient.public_id))
    assert event.changes["channels"] == {"old": ["email", "phone"], "new": ["phone"]}
    # Consent is a routing fact: the work was decided again with the consent now in force.
    assert latest_decision(_stored(patient)).reason == "consent withdrawn in part"


def test_withdrawing_everything_closes_open_work_as_withdrawn(patient):
    consent_withdraw(referral=patient, reason="lead_request", actor=AGENT, note="Asked on a call.")
    stored = _stored(patient)
    assert (stored.stage, stored.outcome, stored.outcome_reason) == (
        Stage.CLOSED,
        Outcome.WITHDRAWN,
        "consent_withdrawn",
    )
    assert consent_current(stored).state == ConsentState.WITHDRAWN
    assert _allowed(stored, "phone") == "referral_closed"
    closed = AuditEvent.objects.get(action="referral.closed", subject_id=str(patient.public_id))
    assert closed.changes["outcome"] == {"old": None, "new": "withdrawn"}


def test_a_withdrawal_after_closing_is_recorded_and_stops_later_contact(patient):
    from refdesk.workflow.closing import referral_close

    referral_close(referral=patient, outcome=Outcome.QUALIFIED, actor=AGENT)
    consent_withdraw(referral=_stored(patient), reason="lead_request", actor=AGENT)
    assert consent_current(patient).state == ConsentState.WITHDRAWN
    assert _stored(patient).outcome == Outcome.QUALIFIED  # the outcome stands


def test_withdrawing_a_purpose_or_channel_never_granted_is_a_clear_error_and_writes_nothing(
    patient,
):
    records, events = ConsentRecord.objects.count(), AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        consent_withdraw(
            referral=patient, purposes=["marketing"], reason="lead_request", actor=AGENT
        )
    assert refused.value.errors[0]["code"] == "purpose_not_granted"
    with pytest.raises(ValidationFailed) as refused:
        consent_withdraw(referral=patient, channels=["sms"], reason="lead_request", actor=AGENT)
    assert refused.value.errors[0]["code"] == "channel_not_granted"
    assert "covers: email, phone" in refused.value.errors[0]["message"]
    with pytest.raises(ValidationFailed):
        consent_withdraw(referral=patient, reason="changed_mind", actor=AGENT)
    assert (ConsentRecord.objects.count(), AuditEvent.objects.count()) == (records, events)


def test_taking_back_the_only_channel_withdraws_consent_and_nothing_is_left_to_withdraw():
    referral = submit("patient-support", support(2, channels=("phone",)))
    consent_withdraw(referral=referral, channels=["phone"], reason="lead_request", actor=AGENT)
    assert consent_current(referral).state == ConsentState.WITHDRAWN
    assert _stored(referral).outcome == Outcome.WITHDRAWN
    with pytest.raises(ApplicationError) as refused:
        consent_withdraw(referral=_stored(referral), reason="lead_request", actor=AGENT)
    assert refused.value.code == "no_consent_in_force"


def test_consent_given_later_on_a_call_replaces_what_is_in_force(patient):
    consent_withdraw(referral=patient, channels=["email"], reason="lead_request", actor=AGENT)
    consent_record(
        referral=_stored(patient),
        purposes=["trial_contact"],
        channels=["phone", "sms"],
        method="verbal_recorded",
        text_version=latest_consent_version("trial-prescreening"),
        actor=AGENT,
        note="Lead agreed to texts on the call.",
    )
    assert _allowed(patient, "sms") == "ok"
    assert _allowed(patient, "email") == "channel_not_consented"
    assert [r.event for r in consent_history(patient)] == ["given", "withdrawn", "given"]


def test_consent_given_later_is_checked_against_the_program(patient):
    with pytest.raises(ValidationFailed) as refused:
        consent_record(
            referral=patient,
            purposes=["marketing"],
            channels=["fax"],
            method="telepathy",
            text_version="1999-01",
            actor=AGENT,
        )
    assert {e["field"] for e in refused.value.errors} == {
        "purposes",
        "channels",
        "method",
        "text_version",
    }
    assert ConsentRecord.objects.filter(referral=patient).count() == 1


def test_consent_cannot_be_recorded_on_closed_work(patient):
    consent_withdraw(referral=patient, reason="lead_request", actor=AGENT)
    with pytest.raises(InvalidTransition):
        consent_record(
            referral=_stored(patient),
            purposes=["trial_contact"],
            channels=["phone"],
            method="verbal_recorded",
            text_version=latest_consent_version("trial-prescreening"),
            actor=AGENT,
        )


def test_expired_consent_gates_contact_like_a_withdrawal_and_the_sweep_records_it_once(patient):
    later = patient.received_at + timedelta(days=366)
    with time_machine.travel(later, tick=False):
        assert consent_current(patient).state == ConsentState.EXPIRED  # read: already gated
        assert _allowed(patient, "phone") == "consent_expired"
        assert consent_expire_due() == 1
        assert consent_expire_due() == 0  # safe to run again
        assert consent_expire(referral=patient) is None
    history = consent_history(patient)
    assert [r.event for r in history] == ["given", "expired"]
    assert AuditEvent.objects.filter(
        action="consent.expired", subject_id=str(patient.public_id)
    ).exists()
    stored = _stored(patient)
    assert stored.stage == Stage.QUEUED  # open work stays open: consent may be renewed
    # The engine saw the expiry: the qualification check on consent is no longer met.
    checklist = {c["id"]: c["status"] for c in latest_decision(stored).decision["checklist"]}
    assert checklist["consent_granted"] == "not_met"


def test_consent_not_yet_expired_is_left_alone(patient):
    with time_machine.travel(timezone.now() + timedelta(days=30), tick=False):
        assert consent_expire_due() == 0
    assert consent_current(patient).state == ConsentState.GRANTED


def test_the_command_expires_every_lapsed_consent(patient):
    out = StringIO()
    with time_machine.travel(patient.received_at + timedelta(days=400), tick=False):
        call_command("consent", "expire", stdout=out)
    assert "1 consent(s) expired" in out.getvalue()
    assert consent_current(patient).state == ConsentState.EXPIRED
