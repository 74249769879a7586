"""Before an approval of a template or material ends, the owner team's program owners and
medical reviewers are told once (a notification and an email), whatever the number of runs or
workers; after it has ended the version is simply no longer sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from refdesk.audit.models import AuditEvent
from refdesk.outreach.choices import ApprovalState
from refdesk.outreach.models import ContentVersion
from refdesk.outreach.selectors import content_in_force
from refdesk.outreach.services import content_approve, content_retire
from refdesk.programs.models import Program
from refdesk.testing import coordinator, owner, reviewer, specialist, staff
from refdesk.workflow import content as content_module
from refdesk.workflow.content import content_expiry_warn, expiry_subject, warn_days
from refdesk.workflow.models import Notification, NotificationKind

pytestmark = pytest.mark.django_db

APPROVED_AT = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
PROGRAM = "provider-education"  # owned by the medical-affairs team
KEY = "education-referral-received"


@pytest.fixture
def people():
    return {
        "owner": owner(),  # program owner, in medical-affairs (and other teams)
        "reviewer": reviewer(),  # medical reviewer, in medical-affairs
        "specialist": specialist(),  # medical-affairs, but does not sign content off
        "coordinator": coordinator(),  # clinical-ops: another team
        "other_owner": staff("oscar.owner", "program_owner", "clinical-ops"),  # not the team
    }


@pytest.fixture
def approved(people):
    row = ContentVersion.objects.get(program__slug=PROGRAM, key=KEY, state="draft")
    return content_approve(content=row, approver=people["reviewer"], now=APPROVED_AT)


def program() -> Program:
    return Program.objects.select_related("active_version").get(slug=PROGRAM)


def warning_starts(row: ContentVersion) -> dt.datetime:
    return row.expires_at - dt.timedelta(days=warn_days(program()))


def run(at: dt.datetime, capture) -> int:
    with capture(execute=True):
        return content_expiry_warn(now=at)


def test_nothing_is_warned_before_the_warning_period(approved, django_capture_on_commit_callbacks):
    assert (
        run(warning_starts(approved) - dt.timedelta(hours=1), django_capture_on_commit_callbacks)
        == 0
    )
    assert not Notification.objects.filter(kind=NotificationKind.CONTENT_EXPIRING).exists()
    assert mail.outbox == []


def test_the_owner_teams_program_owners_and_reviewers_are_warned_once(
    approved, people, django_capture_on_commit_callbacks
):
    at = warning_starts(approved) + dt.timedelta(hours=1)
    assert run(at, django_capture_on_commit_callbacks) == 1

    notes = Notification.objects.filter(kind=NotificationKind.CONTENT_EXPIRING)
    assert {note.user.username for note in notes} == {"olga.owner", "rui.reviewer"}
    ends = timezone.localdate(approved.expires_at).isoformat()
    subject = f"Referral received (to the referrer) v1 approval ends {ends}"
    assert expiry_subject(approved) == subject
    assert all(note.subject == subject and note.referral is None for note in notes)

    approved.refresh_from_db()
    assert approved.expiry_warned_at == at
    event = AuditEvent.objects.get(action="content.expiry_warned")
    assert event.subject_id == str(approved.public_id)
    assert set(event.changes["warned"]["new"]) == {"user:olga.owner", "user:rui.reviewer"}

    [email] = mail.outbox
    assert sorted(email.to) == ["olga.owner@example.org", "rui.reviewer@example.org"]
    assert "Referral received (to the referrer)" in email.subject
    assert f"/desk/content/{approved.public_id}/" in email.body

    # A second run, later the same day or the next: nobody is told again.
    assert run(at + dt.timedelta(hours=2), django_capture_on_commit_callbacks) == 0
    assert run(at + dt.timedelta(days=1), django_capture_on_commit_callbacks) == 0
    assert notes.count() == 2
    assert len(mail.outbox) == 1
    assert AuditEvent.objects.filter(action="content.expiry_warned").count() == 1


def test_an_approval_that_already_ended_unwarned_is_warned_about_once(
    approved, django_capture_on_commit_callbacks
):
    after = approved.expires_at + dt.timedelta(days=2)
    assert run(after, django_capture_on_commit_callbacks) == 1
    assert run(after, django_capture_on_commit_callbacks) == 0


def test_a_worker_that_read_the_row_before_another_warned_it_does_not_warn_again(
    approved, django_capture_on_commit_callbacks
):
    """Two workers: both read the version as unwarned; the conditional UPDATE lets one win."""
    at = warning_starts(approved) + dt.timedelta(hours=1)
    stale = ContentVersion.objects.get(pk=approved.pk)  # read before the other worker ran
    assert run(at, django_capture_on_commit_callbacks) == 1
    assert content_module._warn_one(stale, program(), at) is False
    assert Notification.objects.filter(kind=NotificationKind.CONTENT_EXPIRING).count() == 2


def test_drafts_and_retired_versions_are_never_warned_about(
    approved, people, django_capture_on_commit_callbacks
):
    content_retire(content=approved, actor=people["owner"], reason="withdrawn")
    assert run(approved.expires_at + dt.timedelta(days=1), django_capture_on_commit_callbacks) == 0
    assert ContentVersion.objects.filter(expiry_warned_at__isnull=False).count() == 0


def test_a_new_approval_is_warned_about_again_before_it_ends(
    approved, people, django_capture_on_commit_callbacks
):
    at = warning_starts(approved) + dt.timedelta(hours=1)
    assert run(at, django_capture_on_commit_callbacks) == 1
    # Re-approval: the file is applied with a new review reference, the new draft approved.
    renewed = ContentVersion.objects.create(
        program=approved.program,
        kind=approved.kind,
        key=approved.key,
        version=2,
        content_hash="b" * 64,
        definition={**approved.definition, "version": 2},
        author="system:test",
    )
    renewed = content_approve(content=renewed, approver=people["owner"], now=at)
    assert renewed.expiry_warned_at is None
    assert (
        run(warning_starts(renewed) + dt.timedelta(hours=1), django_capture_on_commit_callbacks)
        == 1
    )


def test_after_the_approval_ends_the_template_is_not_in_force(approved):
    assert content_in_force(
        program_id=approved.program_id,
        kind="template",
        key=KEY,
        now=approved.expires_at - dt.timedelta(minutes=1),
    )
    assert (
        content_in_force(
            program_id=approved.program_id, kind="template", key=KEY, now=approved.expires_at
        )
        is None
    )
    approved.refresh_from_db()
    assert approved.state == ApprovalState.APPROVED
