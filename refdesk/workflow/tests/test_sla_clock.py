"""The first-response clock stops while the referrer owes information and starts again with the
business time it had left (trial program: 2 business days, Monday-Friday 09:00-17:00 New York).

February 2026: no holidays, no daylight-saving change; 10:00 EST is 15:00 UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from refdesk.desk.timeline import referral_timeline
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.testing import make_referrer, trial_submission
from refdesk.workflow.contact import referral_request_info
from refdesk.workflow.submission import referral_complete, referral_submit

pytestmark = pytest.mark.django_db

MON = datetime(2026, 2, 2, 15, tzinfo=UTC)  # Monday 10:00 in New York
TUE = datetime(2026, 2, 3, 15, tzinfo=UTC)
THU = datetime(2026, 2, 5, 15, tzinfo=UTC)
FRI = datetime(2026, 2, 6, 15, tzinfo=UTC)
NEXT_MON = datetime(2026, 2, 9, 15, tzinfo=UTC)
WED = datetime(2026, 2, 4, 15, tzinfo=UTC)


def _submit(**lead):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    with time_machine.travel(MON, tick=False):
        return referrer, referral_submit(
            referrer=referrer,
            submission=trial_submission(lead=lead or None),
            method="api",
            actor=referrer,
        ).referral


def _stored(referral) -> Referral:
    return Referral.objects.get(pk=referral.pk)


def test_a_referral_completed_after_waiting_is_due_the_full_sla_after_completion():
    referrer, referral = _submit(given_name=None)
    assert referral.stage == Stage.NEEDS_INFO
    assert referral.first_response_due_at is None and referral.sla_paused_at == MON
    with time_machine.travel(THU, tick=False):
        referral_complete(
            referral=referral,
            lead_updates={"given_name": "Avery"},
            answer_updates={},
            actor=referrer,
        )
    stored = _stored(referral)
    assert stored.stage == Stage.QUEUED
    # Waiting Monday to Thursday cost the referral nothing: two business days from Thursday.
    # (Counted from receipt it would have been due Wednesday, already breached.)
    assert stored.first_response_due_at == NEXT_MON
    assert stored.sla_paused_at is None and stored.sla_paused_seconds == 3 * 8 * 3600


def test_information_requested_later_keeps_the_business_time_that_was_left():
    referrer, referral = _submit()
    assert _stored(referral).first_response_due_at == WED  # two business days from Monday
    with time_machine.travel(TUE, tick=False):  # one business day used, one left
        referral_request_info(
            referral=_stored(referral), items=["answers.ecog"], actor="user:carl.coordinator"
        )
    waiting = _stored(referral)
    assert (waiting.stage, waiting.first_response_due_at) == (Stage.NEEDS_INFO, None)
    with time_machine.travel(FRI, tick=False):
        referral_complete(
            referral=waiting, lead_updates={}, answer_updates={"ecog": 1}, actor=referrer
        )
    resumed = _stored(referral)
    # The business day left on Tuesday runs from Friday 10:00: due Monday 10:00.
    assert resumed.first_response_due_at == NEXT_MON
    entries = [entry.what for entry in referral_timeline(referral=resumed, show_free_text=True)]
    assert any("first-response clock paused" in what for what in entries)
    assert any("first-response clock resumed" in what for what in entries)


def test_the_routing_explanation_says_the_clock_was_paused():
    referrer, referral = _submit(given_name=None)
    with time_machine.travel(THU, tick=False):
        referral_complete(
            referral=referral,
            lead_updates={"given_name": "Avery"},
            answer_updates={},
            actor=referrer,
        )
    decision = _stored(referral).decisions.order_by("-decided_at").first()
    due = next(s for s in decision.decision["explanation"] if s.startswith("First response"))
    assert "plus 24 h of business time paused while the referrer owed information" in due
