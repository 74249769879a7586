"""The worker's sweep: lost tasks come back, old task rows go, due work is found again."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from refdesk.outreach.choices import MessageStatus
from refdesk.outreach.models import Message
from refdesk.testing import approve_all_content, education, referrer_with_email, submit
from refdesk.workflow.sending import messages_claim
from refdesk.workflow.sweep import sweep_due, tasks_prune, tasks_requeue_stale

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # 10:00 in Chicago


def task_row(status: str, **times) -> DBTaskResult:
    return DBTaskResult.objects.create(
        status=status,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="refdesk.intake.tasks.send_completion_request",
        backend_name="default",
        run_after=NOW,
        exception_class_path="",
        traceback="",
        **times,
    )


def test_a_task_left_running_by_a_dead_worker_is_queued_again_after_its_lease():
    stale = task_row("RUNNING", started_at=NOW - timedelta(minutes=20))
    fresh = task_row("RUNNING", started_at=NOW - timedelta(minutes=2))
    assert tasks_requeue_stale(now=NOW) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == ("READY", "RUNNING")


def test_finished_task_rows_older_than_two_weeks_are_pruned():
    old = task_row("SUCCESSFUL", finished_at=NOW - timedelta(days=15))
    recent = task_row("FAILED", finished_at=NOW - timedelta(days=1))
    waiting = task_row("READY")
    assert tasks_prune(now=NOW) == 1
    left = set(DBTaskResult.objects.values_list("id", flat=True))
    assert left == {recent.id, waiting.id} and old.id not in left


def test_a_claim_whose_worker_died_is_taken_again_once_its_lease_lapses():
    approve_all_content()
    referrer_with_email("provider-education")
    with time_machine.travel(NOW, tick=False):
        referral = submit("provider-education", education(21))
    message = Message.objects.get(referral=referral, audience="referrer")
    claimed = messages_claim(now=NOW + timedelta(seconds=1), limit=10)
    assert [pk for pk, _ in claimed] == [message.pk]  # a worker took it, then died
    assert messages_claim(now=NOW + timedelta(minutes=1), limit=10) == []  # still leased
    run_at = NOW + timedelta(minutes=6)
    with time_machine.travel(run_at, tick=False):
        sweep_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len([m for m in mail.outbox if m.to == ["ref@example-clinic.org"]]) == 1


@override_settings(
    TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
)
def test_refdesk_worker_in_batch_mode_sends_what_is_due_and_exits(monkeypatch):
    # The worker drops stale connections between turns; the test's own transaction (not in
    # autocommit) would look stale to it on PostgreSQL, so it stays.
    monkeypatch.setattr(
        "refdesk.cli.management.commands.worker.close_old_connections", lambda: None
    )
    approve_all_content()
    referrer_with_email("provider-education")
    with time_machine.travel(NOW, tick=False):
        referral = submit("provider-education", education(22))
    with time_machine.travel(NOW + timedelta(seconds=5), tick=True):
        call_command("worker", "--batch", "--interval", "0", verbosity=0)
    statuses = set(Message.objects.filter(referral=referral).values_list("status", flat=True))
    assert statuses == {MessageStatus.SENT}
    assert len(mail.outbox) == 2  # the referrer's acknowledgement and the lead's first message
