"""Verifying the chain from the console: the same walk as ``refdesk audit verify`` (its progress
reported as it goes), run as a background task, one run at a time, its start and its result on
the trail."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from refdesk.audit.choices import VerificationState
from refdesk.audit.models import AuditEvent, AuditVerification
from refdesk.audit.services import audit_verify
from refdesk.audit.tests.tampering import record_events, triggers_disabled
from refdesk.audit.verification import LOST_AFTER, audit_verification_start
from refdesk.audit.verifying import audit_verification_run

pytestmark = pytest.mark.django_db


def _run(actor="user:ines.auditor") -> AuditVerification:
    started = audit_verification_start(actor=actor)
    audit_verification_run(public_id=str(started.run.public_id))
    started.run.refresh_from_db()
    return started.run


class TestProgress:
    def test_the_walk_reports_each_chunk_and_ends_at_the_total(self, baseline):
        record_events(7)
        calls = []
        result = audit_verify(chunk_size=3, progress=lambda checked, total: calls.append(
            (checked, total)))  # fmt: skip
        total = baseline.count + 7
        assert result.ok and result.checked == total
        # 0 first, every 3rd event, then the end: the whole chain, as many as the head names.
        expected = [(0, total)] + [(n, total) for n in range(3, total + 1, 3)] + [(total, total)]
        assert calls == expected

    def test_at_a_break_the_last_report_stops_short_of_the_total(self, baseline):
        events = record_events(4)
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[2].seq).update(reason="tampered")
        calls = []
        result = audit_verify(progress=lambda checked, total: calls.append((checked, total)))
        assert not result.ok
        assert calls[-1] == (baseline.count + 2, baseline.count + 4)

    def test_without_a_callback_the_walk_reads_no_head_first(
        self, baseline, django_assert_num_queries
    ):
        record_events(2)
        # One walk of the events, one read of the head: what `refdesk audit verify` always did.
        with django_assert_num_queries(2):
            assert audit_verify().ok


class TestRun:
    def test_an_intact_chain_is_reported_intact_with_every_event_counted(self, baseline):
        record_events(5)
        run = _run()
        # The start event is on the chain before the walk: it is checked too.
        checked = baseline.count + 5 + 1
        assert (run.state, run.checked, run.total, run.problem) == (
            VerificationState.INTACT,
            checked,
            checked,
            "",
        )
        assert run.active is None and run.started_at and run.finished_at
        assert run.percent == 100

    def test_a_tampered_chain_is_reported_broken_at_the_first_bad_event(self, baseline):
        events = record_events(4)
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[1].seq).update(actor="user:mallory")
        run = _run()
        assert run.state == VerificationState.BROKEN
        assert run.bad_seq == events[1].seq
        assert run.checked == baseline.count + 1
        assert run.problem == (
            f"event #{events[1].seq}: hash does not match its content (edited or forged)"
        )
        # Progress stops at the break: the total is what the head named when the walk began.
        assert run.total == baseline.count + 4 + 1

    def test_starting_and_the_result_are_audited(self, baseline):
        record_events(1)
        run = _run(actor="user:ines.auditor")
        started, finished = AuditEvent.objects.filter(
            subject_type="audit_verification", subject_id=str(run.public_id)
        ).order_by("seq")
        assert (started.action, started.actor) == (
            "audit.verification_started",
            "user:ines.auditor",
        )
        assert finished.action == "audit.verification_finished"
        assert finished.changes["state"] == {"old": "running", "new": "intact"}
        assert finished.changes["checked"]["new"] == run.checked
        assert run.started_by == "user:ines.auditor"
        assert audit_verify().ok  # the run's own events keep the chain whole

    def test_a_second_delivery_of_the_task_does_nothing(self, baseline):
        run = _run()
        events = AuditEvent.objects.count()
        assert audit_verification_run(public_id=str(run.public_id)) is None
        assert AuditEvent.objects.count() == events

    def test_the_task_runs_once_the_start_commits(
        self, baseline, django_capture_on_commit_callbacks
    ):
        # Tests use the ImmediateBackend: the enqueued task runs at once, after the commit.
        with django_capture_on_commit_callbacks(execute=True):
            started = audit_verification_start(actor="user:ines.auditor")
        started.run.refresh_from_db()
        assert started.run.state == VerificationState.INTACT


class TestOneAtATime:
    def test_a_second_start_while_one_runs_returns_the_running_one(self):
        first = audit_verification_start(actor="user:ines.auditor")
        second = audit_verification_start(actor="user:adam.admin")
        assert first.created and not second.created
        assert second.run.pk == first.run.pk
        assert AuditVerification.objects.count() == 1
        assert AuditEvent.objects.filter(action="audit.verification_started").count() == 1

    def test_the_database_refuses_a_second_active_run(self):
        audit_verification_start(actor="user:ines.auditor")
        run = AuditVerification.objects.get()
        with pytest.raises(IntegrityError), transaction.atomic():
            AuditVerification.objects.create(
                started_by="user:x", requested_at=run.requested_at, progressed_at=run.progressed_at
            )

    def test_after_a_run_finishes_a_new_one_may_start(self):
        first = _run()
        second = audit_verification_start(actor="user:ines.auditor")
        assert second.created and second.run.pk != first.pk

    def test_a_run_without_progress_for_too_long_is_recorded_lost_and_a_new_one_starts(
        self, time_machine
    ):
        first = audit_verification_start(actor="user:ines.auditor").run
        time_machine.move_to(first.progressed_at + LOST_AFTER + timedelta(seconds=1))
        second = audit_verification_start(actor="user:ines.auditor")
        assert second.created
        first.refresh_from_db()
        assert (first.state, first.active) == (VerificationState.LOST, None)
        assert "no progress since" in first.problem
        lost = AuditEvent.objects.get(action="audit.verification_lost")
        assert lost.subject_id == str(first.public_id)

    def test_a_run_that_moved_recently_is_not_lost(self, time_machine):
        first = audit_verification_start(actor="user:ines.auditor").run
        time_machine.move_to(first.progressed_at + LOST_AFTER - timedelta(seconds=1))
        assert not audit_verification_start(actor="user:ines.auditor").created
