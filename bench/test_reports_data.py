"""The reports data generator writes data the application's rules allow: 2,000 referrals through
the same code path as the 1M and 5M loads, into the test database (inside the test's
transaction, so every index and constraint is in place as the rows go in), then checked."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.db import connection
from django.db.models import F, Min, Q

from bench.reports_data import PROGRAMS, REFERRERS_PER_PROGRAM, generate
from refdesk.consent.models import ConsentRecord
from refdesk.intake.choices import OUTCOME_REASONS, SYSTEM_OUTCOME_REASONS
from refdesk.intake.models import MissingItem, Referral
from refdesk.outreach.models import Message
from refdesk.programs.models import ProgramVersion
from refdesk.referrers.models import Referrer
from refdesk.routing.models import RoutingDecision
from refdesk.scheduling.models import Appointment

# The test database has the demo programs applied at the session's start: the history runs from
# then to 90 days later.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=90)
COUNT = 2000

pytestmark = pytest.mark.django_db


def test_generated_data_is_consistent():
    """One generation (~2.5 s), three groups of checks."""
    generate(referrals=COUNT, seed=7, now=NOW, migrate=False, quiet=True)
    rows_keep_the_models_rules()
    lifecycle_rows_agree_with_the_referrals()
    shares_look_like_a_real_program()


def rows_keep_the_models_rules():
    connection.check_constraints()  # foreign keys (deferred until commit otherwise)
    assert Referral.objects.count() == COUNT
    assert Referrer.objects.count() == REFERRERS_PER_PROGRAM * len(PROGRAMS)
    # Closed exactly when there is an outcome; open work has no closing time.
    assert not Referral.objects.filter(stage="closed", outcome="").exists()
    assert not Referral.objects.filter(~Q(stage="closed"), ~Q(outcome="")).exists()
    assert not Referral.objects.filter(~Q(stage="closed"), closed_at__isnull=False).exists()
    assert not Referral.objects.filter(stage="closed", closed_at__isnull=True).exists()
    # Every reason code is one of the outcome's codes; qualified carries none.
    allowed = {
        outcome: set(OUTCOME_REASONS.get(outcome, ()))
        | set(SYSTEM_OUTCOME_REASONS.get(outcome, ()))
        for outcome in {*OUTCOME_REASONS, *SYSTEM_OUTCOME_REASONS}
    }
    for outcome, reason in (
        Referral.objects.filter(stage="closed").values_list("outcome", "outcome_reason").distinct()
    ):
        assert reason in (allowed[outcome] if outcome != "qualified" else {""}), (outcome, reason)
    # Nothing happens after "now" or before receipt.
    assert not Referral.objects.filter(received_at__gt=NOW).exists()
    for column in ("routed_at", "first_responded_at", "lead_reached_at", "closed_at"):
        assert not Referral.objects.filter(**{f"{column}__gt": NOW}).exists(), column
        assert not Referral.objects.filter(**{f"{column}__lt": F("received_at")}).exists(), column
    # Each referral was handled by the version in force when it arrived.
    applied = dict(ProgramVersion.objects.values_list("id", "applied_at"))
    firsts = Referral.objects.values("program_version_id").annotate(first=Min("received_at"))
    for row in firsts:
        assert applied[row["program_version_id"]] <= row["first"]
    # Duplicates point at an earlier referral of the same program and were never routed.
    duplicates = Referral.objects.filter(outcome="duplicate")
    assert duplicates.exists()
    assert not duplicates.filter(duplicate_of__isnull=True).exists()
    assert not duplicates.exclude(duplicate_of__program=F("program")).exists()
    assert not duplicates.filter(routed_at__isnull=False).exists()
    # One initial routing decision per routed referral; re-routes come after it.
    routed = Referral.objects.filter(routed_at__isnull=False)
    initial = RoutingDecision.objects.filter(kind="initial")
    assert initial.count() == routed.count()
    assert not initial.exclude(decided_at=F("referral__routed_at")).exists()
    assert RoutingDecision.objects.filter(kind="reroute").exists()
    # Information still missing: not routed yet, its clock stopped at receipt.
    waiting = Referral.objects.filter(stage="needs_info")
    assert waiting.exists()
    assert not waiting.filter(Q(routed_at__isnull=False) | Q(queue__isnull=False)).exists()
    assert not waiting.exclude(sla_paused_at=F("received_at")).exists()


def lifecycle_rows_agree_with_the_referrals():
    # Consent: one intake record per referral of a program that asks consent of its leads.
    asked = Referral.objects.filter(program__slug__in=["trial-prescreening", "patient-support"])
    intake = ConsentRecord.objects.filter(event__in=["given", "refused"])
    assert intake.count() == asked.count()
    withdrawn = ConsentRecord.objects.filter(event="withdrawn")
    assert withdrawn.count() == Referral.objects.filter(outcome="withdrawn").count()
    assert not ConsentRecord.objects.filter(
        event="expired", expires_at__gt=F("recorded_at")
    ).exists()
    # Messages: a refusal says why; nothing finished is still due.
    assert not Message.objects.filter(status="refused", reason="").exists()
    assert not Message.objects.filter(next_action_at__isnull=False).exists()
    assert Message.objects.filter(status="bounced").exists()
    # Appointments: a booked one is in the future and its member is not double-booked.
    booked = Appointment.objects.filter(status="booked")
    assert not booked.filter(starts_at__lte=NOW).exists()
    assert not booked.exclude(referral__stage="scheduled").exists()
    scheduled = Referral.objects.filter(stage="scheduled")
    assert scheduled.count() == booked.count()
    held = defaultdict(list)
    for member, starts, until in booked.values_list("member_id", "starts_at", "blocked_until"):
        held[member].append((starts, until))
    for times in held.values():
        times.sort()
        assert all(a[1] <= b[0] for a, b in zip(times, times[1:], strict=False))
    assert not Appointment.objects.filter(ends_at__lte=F("starts_at")).exists()
    # Missing items: the open needs_info referrals still miss theirs.
    waiting = Referral.objects.filter(stage="needs_info")
    assert not MissingItem.objects.filter(referral__in=waiting, resolved_at__isnull=False).exists()


def shares_look_like_a_real_program():
    """Rough shapes the monthly funnels depend on (hand-set targets, wide enough for 2,000)."""
    total = Referral.objects.count()
    qualified = Referral.objects.filter(outcome="qualified").count()
    assert 0.2 <= qualified / total <= 0.35
    responded = Referral.objects.filter(first_responded_at__isnull=False)
    met = responded.filter(first_responded_at__lte=F("first_response_due_at")).count()
    assert 0.85 <= met / responded.count() <= 0.95
    attended = Appointment.objects.exclude(status="booked")
    no_show = attended.filter(status="no_show").count() / attended.count()
    assert 0.1 <= no_show <= 0.2
    assert 0.1 <= Appointment.objects.count() / total <= 0.2
    assert 1.5 <= Message.objects.count() / total <= 3
    assert 0.05 <= MissingItem.objects.values("referral").distinct().count() / total <= 0.15
    # Three versions per program, each handling referrals.
    assert ProgramVersion.objects.count() == 3 * len(PROGRAMS)
    assert Referral.objects.values("program_version").distinct().count() == 3 * len(PROGRAMS)
    # Every first response carries its business time, as the workflow fixes it; an on-time
    # one never took more business time than the longest SLA of the demo programs (3 days).
    assert not responded.filter(first_response_seconds__isnull=True).exists()
    on_time = responded.filter(first_responded_at__lte=F("first_response_due_at"))
    assert not on_time.filter(first_response_seconds__gt=3 * 8 * 3600).exists()
    # Routed work records when it entered its stage.
    assert not Referral.objects.filter(routed_at__isnull=False, stage_changed_at=None).exists()
