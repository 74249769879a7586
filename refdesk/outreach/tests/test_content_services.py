"""Approved content: a program file's templates and materials are recorded as drafts when it is
applied, approved by someone other than their author who signs content off, replaced by newer
approvals and never in force once their approval has ended."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError
from refdesk.governance.services import program_apply
from refdesk.outreach.choices import ApprovalState, ContentKind
from refdesk.outreach.models import ContentVersion
from refdesk.outreach.selectors import content_in_force
from refdesk.outreach.services import content_approve, content_retire, content_sync
from refdesk.programs.loader import load_program_text
from refdesk.programs.models import Program
from refdesk.testing import (
    PROGRAMS_DIR,
    apply_demo_programs,
    auditor,
    coordinator,
    owner,
    reviewer,
)

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
PROGRAM = "provider-education"
KEY = "education-referral-received"
OLD_SUBJECT = "Your referral {referral.reference} was received"
NEW_SUBJECT = "We have received your referral {referral.reference}"


def program() -> Program:
    return Program.objects.select_related("active_version").get(slug=PROGRAM)


def versions(key: str = KEY):
    return ContentVersion.objects.filter(program__slug=PROGRAM, key=key)


def draft(key: str = KEY) -> ContentVersion:
    return versions(key).get(state=ApprovalState.DRAFT)


def apply_changed_wording(actor: str = "system:test"):
    """Apply provider-education with the acknowledgement's subject reworded."""
    text = (PROGRAMS_DIR / f"{PROGRAM}.yaml").read_text()
    assert OLD_SUBJECT in text
    loaded = load_program_text(text.replace(OLD_SUBJECT, NEW_SUBJECT), filename="changed.yaml")
    return program_apply(programs=[loaded], actor=actor, note="reworded acknowledgement")


def definition() -> dict:
    return program().active_version.definition


# --- recording drafts ------------------------------------------------------------------------


def test_applying_a_program_records_each_template_and_material_as_a_draft():
    data = definition()
    recorded = ContentVersion.objects.filter(program__slug=PROGRAM)
    assert set(recorded.filter(kind=ContentKind.TEMPLATE).values_list("key", flat=True)) == set(
        data["templates"]
    )
    assert set(recorded.filter(kind=ContentKind.MATERIAL).values_list("key", flat=True)) == set(
        data["materials"]
    )
    assert set(recorded.values_list("state", flat=True)) == {ApprovalState.DRAFT}
    ack = draft()
    assert ack.author == "system:test"
    assert ack.review_ref == "MARC-2026-021"
    assert ack.definition["channels"]["email"]["subject"] == OLD_SUBJECT
    assert AuditEvent.objects.filter(
        action="content.drafted", subject_id=str(ack.public_id)
    ).exists()


def test_syncing_the_same_definition_twice_records_nothing_new():
    before = ContentVersion.objects.count()
    assert content_sync(program=program(), definition=definition(), actor="system:test") == []
    assert ContentVersion.objects.count() == before


def test_applying_the_same_file_twice_records_nothing_new():
    before = ContentVersion.objects.count()
    apply_demo_programs(note="again")
    assert ContentVersion.objects.count() == before


def test_a_changed_wording_is_a_new_draft_while_the_approved_version_stays_in_force():
    approved = content_approve(content=draft(), approver=reviewer(), now=NOW)
    apply_changed_wording()
    assert versions().count() == 2
    new = draft()
    assert new.definition["channels"]["email"]["subject"] == NEW_SUBJECT
    assert new.content_hash != approved.content_hash
    in_force = content_in_force(
        program_id=new.program_id, kind=ContentKind.TEMPLATE, key=KEY, now=NOW
    )
    assert in_force.pk == approved.pk
    # Only the reworded template is new; everything else was already recorded.
    assert (
        ContentVersion.objects.filter(program__slug=PROGRAM, state="draft").exclude(key=KEY).count()
        == len(definition()["templates"]) + len(definition()["materials"]) - 1
    )


# --- approving --------------------------------------------------------------------------------


def test_approval_records_the_approver_and_lasts_the_programs_approval_period():
    approver = reviewer()
    row = content_approve(content=draft(), approver=approver, note="MARC meeting 3", now=NOW)
    valid_days = (definition().get("followup") or {}).get("approvals", {}).get("valid_days", 365)
    assert row.state == ApprovalState.APPROVED
    assert row.approved_by == approver and row.approved_at == NOW
    assert row.expires_at == NOW + dt.timedelta(days=valid_days)
    event = AuditEvent.objects.get(action="content.approved", subject_id=str(row.public_id))
    assert event.actor == "user:rui.reviewer" and event.reason == "MARC meeting 3"


def test_it_refuses_approval_by_the_author_of_the_version():
    author = reviewer()
    [row] = content_sync(
        program=program(),
        definition={"templates": {"staff-note": {"name": "Staff note", "version": 1}}},
        actor=author,
    )
    with pytest.raises(ApplicationError) as refused:
        content_approve(content=row, approver=author, now=NOW)
    assert refused.value.code == "author_cannot_approve"
    row.refresh_from_db()
    assert row.state == ApprovalState.DRAFT
    # Another approver may.
    assert content_approve(content=row, approver=owner(), now=NOW).state == "approved"


@pytest.mark.parametrize("persona", [coordinator, auditor])
def test_it_refuses_approval_by_a_role_that_does_not_sign_content_off(persona):
    row = draft()
    with pytest.raises(ApplicationError) as refused:
        content_approve(content=row, approver=persona(), now=NOW)
    assert refused.value.code == "not_an_approver"
    row.refresh_from_db()
    assert row.state == ApprovalState.DRAFT and row.approved_by is None


def test_it_refuses_a_second_approval_of_the_same_version():
    row = content_approve(content=draft(), approver=reviewer(), now=NOW)
    with pytest.raises(ApplicationError) as refused:
        content_approve(content=row, approver=owner(), now=NOW)
    assert refused.value.code == "not_a_draft"


def test_approving_a_new_version_retires_the_one_approved_before():
    first = content_approve(content=draft(), approver=reviewer(), now=NOW)
    apply_changed_wording()
    later = NOW + dt.timedelta(days=3)
    second = content_approve(content=draft(), approver=owner(), now=later)
    first.refresh_from_db()
    assert first.state == ApprovalState.RETIRED and first.retired_at == later
    assert second.state == ApprovalState.APPROVED
    assert list(versions().filter(state="approved")) == [second]
    retired = AuditEvent.objects.get(action="content.retired", subject_id=str(first.public_id))
    assert retired.reason == "replaced by a newly approved version"
    in_force = content_in_force(
        program_id=second.program_id, kind=ContentKind.TEMPLATE, key=KEY, now=later
    )
    assert in_force.pk == second.pk


def test_the_database_holds_one_approved_version_per_key_and_language():
    approver = reviewer()
    content_approve(content=draft(), approver=approver, now=NOW)
    apply_changed_wording()
    with pytest.raises(IntegrityError), transaction.atomic():
        versions().filter(state="draft").update(
            state="approved",
            approved_by=approver,
            approved_at=NOW,
            expires_at=NOW + dt.timedelta(days=1),
        )


# --- retiring and expiry -------------------------------------------------------------------------


def test_retiring_needs_a_reason_and_takes_the_version_out_of_force():
    row = content_approve(content=draft(), approver=reviewer(), now=NOW)
    supervisor = owner()
    with pytest.raises(ApplicationError) as refused:
        content_retire(content=row, actor=supervisor, reason="  ", now=NOW)
    assert refused.value.code == "reason_required"
    content_retire(content=row, actor=supervisor, reason="withdrawn by MARC", now=NOW)
    row.refresh_from_db()
    assert row.state == ApprovalState.RETIRED
    assert content_in_force(program_id=row.program_id, kind="template", key=KEY, now=NOW) is None


def test_an_approved_template_is_not_in_force_once_its_approval_has_ended():
    row = content_approve(content=draft(), approver=reviewer(), now=NOW)
    just_before = row.expires_at - dt.timedelta(seconds=1)
    assert content_in_force(program_id=row.program_id, kind="template", key=KEY, now=just_before)
    for moment in (row.expires_at, row.expires_at + dt.timedelta(days=1)):
        assert (
            content_in_force(program_id=row.program_id, kind="template", key=KEY, now=moment)
            is None
        )
    row.refresh_from_db()
    assert row.state == ApprovalState.APPROVED  # still approved; simply no longer sendable
