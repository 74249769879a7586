"""The demo's simulated clock: steps in time order, follow-up at its own due times, queued tasks
run under the clock, and never a step before the newest event of the trail."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.tasks import task
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from refdesk.audit.models import AuditEvent
from refdesk.demo import history as history_module
from refdesk.demo.history import History
from refdesk.testing import submit, support

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


def _monday_ten(after: dt.datetime) -> dt.datetime:
    """10:00 New York on the first Monday at least a week after ``after`` (after the session's
    trail, so the clock is not held back by it)."""
    day = (after + dt.timedelta(days=7)).astimezone(NEW_YORK).date()
    while day.weekday() != 0:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(10), tzinfo=NEW_YORK).astimezone(dt.UTC)


def test_steps_run_in_time_order_each_at_its_time_and_none_after_the_end():
    start = _monday_ten(timezone.now())
    end = start + dt.timedelta(days=2)
    seen = []

    def step(history, name):
        seen.append((name, timezone.now(), history.now))
        if name == "b":  # a step may put the next one on the queue
            history.at(history.now + dt.timedelta(minutes=1), step, "c")

    history = History(start=start, end=end)
    with history:
        history.at(start + dt.timedelta(hours=5), step, "b")
        history.at(start + dt.timedelta(hours=1), step, "a")
        history.at(end + dt.timedelta(seconds=1), step, "later")
        history.play()
        assert timezone.now() == end  # the clock is left at the end
    assert seen == [
        ("a", start + dt.timedelta(hours=1), start + dt.timedelta(hours=1)),
        ("b", start + dt.timedelta(hours=5), start + dt.timedelta(hours=5)),
        ("c", start + dt.timedelta(hours=5, minutes=1), start + dt.timedelta(hours=5, minutes=1)),
    ]
    assert history.steps == 3 and history.after_end == 1
    assert timezone.now() < start  # real time again (the history ran in the future)


def test_follow_up_runs_at_its_own_due_times_between_steps():
    """A patient-support referral received Monday 10:00 New York is due a first response on
    Tuesday 10:00 (1 business day); the warning fires 2 hours before, the breach at 10:00 and
    the escalation 2 hours after (the program's after_breach_hours), each at that time, although
    the next step comes days later."""
    monday = _monday_ten(timezone.now())
    history = History(start=monday - dt.timedelta(hours=1), end=monday + dt.timedelta(days=3))
    made = []
    with history:
        history.at(monday, lambda h: made.append(submit("patient-support", support(1))))
        history.play()
    referral = made[0]
    tuesday = monday + dt.timedelta(days=1)
    assert referral.received_at == referral.routed_at == monday
    events = dict(
        AuditEvent.objects.filter(
            subject_id=str(referral.public_id), action__startswith="referral.sla_"
        ).values_list("action", "occurred_at")
    )
    assert events == {
        "referral.sla_warning": tuesday - dt.timedelta(hours=2),
        "referral.sla_breached": tuesday,
        "referral.sla_escalated": tuesday + dt.timedelta(hours=2),
    }


@task()
def stamped() -> str:
    return timezone.now().isoformat()


def test_the_database_task_backend_is_recognised(monkeypatch):
    """``make run`` keeps tasks in the database (the history runs them); the tests' immediate
    backend runs them itself."""
    from django.tasks import TaskBackendHandler

    assert history_module.database_tasks() is None
    handler = TaskBackendHandler(
        {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    )
    monkeypatch.setattr(history_module, "task_backends", handler)
    assert isinstance(history_module.database_tasks(), DatabaseBackend)


def test_a_task_queued_in_the_database_runs_under_the_clock(monkeypatch):
    """With the database task backend (``make run``), what a step queues runs at that step's
    time, not later by the real worker."""
    backend = DatabaseBackend(alias="default", params={"QUEUES": ["default"]})
    monkeypatch.setattr(history_module, "task_backends", {"default": backend})
    start = _monday_ten(timezone.now())
    history = History(start=start, end=start + dt.timedelta(days=1))
    assert history._db_tasks is backend
    with history:
        history.at(start + dt.timedelta(hours=3), lambda h: backend.enqueue(stamped, (), {}))
        history.play()
    result = DBTaskResult.objects.get(task_path=stamped.module_path)
    assert result.status == "SUCCESSFUL"
    assert result.finished_at == start + dt.timedelta(hours=3)
    assert result.return_value == (start + dt.timedelta(hours=3)).isoformat()


def test_the_clock_starts_after_the_newest_event_of_the_trail():
    newest = AuditEvent.objects.order_by("-seq").values_list("occurred_at", flat=True)[0]
    history = History(start=newest - dt.timedelta(days=90), end=newest + dt.timedelta(days=1))
    assert history.start == newest + dt.timedelta(microseconds=1)
    moments = []
    with history:
        history.at(newest - dt.timedelta(days=30), lambda h: moments.append(timezone.now()))
        history.play()
    assert moments == [newest + dt.timedelta(microseconds=1)]


def test_the_worker_s_housekeeping_runs_through_the_history(monkeypatch):
    """A patient-support consent is valid 365 days (the program's ``consent.valid_days``): a
    history running past that records its expiry at the first housekeeping after it (here once
    a simulated day, to keep the test short)."""
    from refdesk.consent.models import ConsentRecord

    monkeypatch.setattr(history_module, "HOUSEKEEPING", dt.timedelta(days=1))
    monday = _monday_ten(timezone.now())
    history = History(start=monday, end=monday + dt.timedelta(days=366))
    made = []
    with history:
        history.at(monday, lambda h: made.append(submit("patient-support", support(2))))
        history.play()
    expires = ConsentRecord.objects.filter(referral=made[0], granted=True).get().expires_at
    assert expires == monday + dt.timedelta(days=365)
    expired = AuditEvent.objects.get(subject_id=str(made[0].public_id), action="consent.expired")
    assert expired.occurred_at == expires  # day 365 of the history, at 10:00 New York
