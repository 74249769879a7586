"""Drug-safety notices: acknowledged and triaged by the safety officer, every step audited, the
clocks from the referral's program version, and never closed without a triage decision."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from refdesk.access import policy
from refdesk.access.selectors import (
    PATIENT_DATA_VIEWED,
    lead_view,
    notice_list_visible_to,
    notice_open_count,
    referral_list_visible_to,
)
from refdesk.accounts.choices import Role
from refdesk.accounts.roles import assignee_roles
from refdesk.audit.models import AuditEvent
from refdesk.core.errors import Conflict, NotFound, ValidationFailed
from refdesk.governance.services import program_apply
from refdesk.intake.models import ReferralNote
from refdesk.programs.loader import load_program_text
from refdesk.routing.choices import TriageDecision
from refdesk.routing.models import QueueNotice
from refdesk.testing import (
    PROGRAMS_DIR,
    adverse_event_referral,
    make_personas,
    safety_officer,
    staff,
    submit,
    support,
)
from refdesk.workflow.safety import (
    SAFETY_NOTE_KIND,
    notice_acknowledge,
    notice_clocks,
    notice_triage,
)

pytestmark = pytest.mark.django_db

RECEIVED = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
SECRET = "ZEBRA"  # typed in notes below; must never reach the trail or a clear column


@pytest.fixture
def officer():
    return safety_officer()


@pytest.fixture
def notice():
    referral = adverse_event_referral(1, received_at=RECEIVED)
    return QueueNotice.objects.select_related("queue", "referral").get(referral=referral)


def fresh(notice: QueueNotice) -> QueueNotice:
    return QueueNotice.objects.select_related("queue", "referral").get(pk=notice.pk)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- day 0 and the clocks --------------------------------------------------------------------


def test_an_adverse_event_at_intake_opens_a_notice_with_day_0_at_receipt(notice):
    assert notice.queue.slug == "drug-safety"
    assert "possible_adverse_event" in notice.referral.flags
    assert notice.received_at == notice.referral.received_at == RECEIVED
    assert notice.closed_at is None and notice.acknowledged_at is None
    clocks = notice_clocks(notice)
    assert clocks.received_at == RECEIVED
    assert (clocks.triage_hours, clocks.expedited_report_days) == (24, 15)
    assert clocks.triage_due_at == RECEIVED + dt.timedelta(hours=24)
    assert clocks.expedited_due_at == RECEIVED + dt.timedelta(days=15)


def test_the_triage_clock_turns_overdue_after_the_window(notice):
    clocks = notice_clocks(notice)
    assert not clocks.triage_overdue(RECEIVED + dt.timedelta(hours=23, minutes=59))
    assert clocks.triage_overdue(RECEIVED + dt.timedelta(hours=24, minutes=1))
    assert not clocks.expedited_overdue(RECEIVED + dt.timedelta(days=14))
    assert clocks.expedited_overdue(RECEIVED + dt.timedelta(days=15, seconds=1))


def _apply_patient_support(triage_hours: int, expedited_days: int):
    text = (PROGRAMS_DIR / "patient-support.yaml").read_text()
    text = text.replace("triage_hours: 24", f"triage_hours: {triage_hours}", 1)
    text = text.replace("expedited_report_days: 15", f"expedited_report_days: {expedited_days}", 1)
    loaded = load_program_text(text, filename=PROGRAMS_DIR / "patient-support.yaml")
    program_apply(programs=[loaded], actor="system:test", note="a longer triage window")


def test_the_clocks_come_from_the_program_version_that_handled_the_referral(notice):
    """A new version's window applies to new referrals; an existing notice keeps its own."""
    _apply_patient_support(triage_hours=48, expedited_days=7)
    later = RECEIVED + dt.timedelta(hours=2)
    newer = QueueNotice.objects.get(referral=adverse_event_referral(2, received_at=later))
    assert newer.referral.program_version_id != notice.referral.program_version_id
    old_clocks, new_clocks = notice_clocks(fresh(notice)), notice_clocks(newer)
    assert old_clocks.triage_due_at == RECEIVED + dt.timedelta(hours=24)
    assert old_clocks.expedited_due_at == RECEIVED + dt.timedelta(days=15)
    assert new_clocks.triage_due_at == later + dt.timedelta(hours=48)
    assert new_clocks.expedited_due_at == later + dt.timedelta(days=7)


# --- acknowledge -----------------------------------------------------------------------------


def test_acknowledging_records_who_and_when_in_one_audited_step(notice, officer, time_machine):
    time_machine.move_to(RECEIVED + dt.timedelta(hours=1), tick=False)
    notice_acknowledge(notice=notice, user=officer)
    stored = fresh(notice)
    assert stored.acknowledged_at == RECEIVED + dt.timedelta(hours=1)
    assert stored.acknowledged_by == "user:sana.safety"
    assert stored.closed_at is None  # acknowledging is not triage
    [event] = events("notice.acknowledged")
    assert event.actor == "user:sana.safety"
    assert event.subject_id == str(notice.referral.public_id)
    assert event.changes["notice"]["new"] == str(notice.public_id)


def test_of_two_officers_acknowledging_at_once_one_is_refused(notice, officer):
    colleague = staff("sam.safety", Role.DRUG_SAFETY_OFFICER, "drug-safety")
    theirs, mine = fresh(notice), fresh(notice)  # both read it unacknowledged
    notice_acknowledge(notice=theirs, user=colleague)
    with pytest.raises(Conflict) as refused:
        notice_acknowledge(notice=mine, user=officer)
    assert refused.value.code == "already_acknowledged"
    assert "sam.safety" in refused.value.message
    assert fresh(notice).acknowledged_by == "user:sam.safety"
    assert len(events("notice.acknowledged")) == 1


# --- triage ----------------------------------------------------------------------------------


def test_triage_with_a_case_id_closes_the_notice_audited_with_the_note_encrypted(notice, officer):
    notice_acknowledge(notice=notice, user=officer)
    notice_triage(
        notice=notice,
        user=officer,
        decision=TriageDecision.AE_SERIOUS,
        case_id="AE-2026-000123",
        note=f"Hospitalised; {SECRET} called back.",
    )
    stored = fresh(notice)
    assert stored.triage_decision == TriageDecision.AE_SERIOUS
    assert stored.case_id == "AE-2026-000123"
    assert stored.closed_at is not None and stored.triaged_by == "user:sana.safety"
    note = ReferralNote.objects.get(pk=stored.triage_note_id)
    assert note.kind == SAFETY_NOTE_KIND and SECRET in note.text
    [event] = events("notice.triaged")
    assert event.changes["decision"]["new"] == "ae_serious"
    assert event.changes["case_id"]["new"] == "AE-2026-000123"
    assert event.changes["closed"]["new"] is True
    assert event.changes["note"]["new"]["id"] == str(note.public_id)
    assert SECRET not in str(event.changes)


def test_triaging_an_unacknowledged_notice_acknowledges_it_first(notice, officer):
    notice_triage(notice=notice, user=officer, decision=TriageDecision.NOT_AE)
    stored = fresh(notice)
    assert stored.acknowledged_by == "user:sana.safety" and stored.closed_at is not None
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="notice.")
            .exclude(action="notice.sent").order_by("seq")] == [
        "notice.acknowledged", "notice.triaged",
    ]  # fmt: skip


def test_needs_follow_up_keeps_the_notice_open_for_another_triage(notice, officer):
    notice_triage(notice=notice, user=officer, decision=TriageDecision.NEEDS_FOLLOW_UP)
    stored = fresh(notice)
    assert stored.closed_at is None and stored.triage_decision == "needs_follow_up"
    assert notice_open_count(user=officer) == 1
    notice_triage(
        notice=stored, user=officer, decision=TriageDecision.AE_NON_SERIOUS, case_id="AE-77"
    )
    final = fresh(notice)
    assert final.closed_at is not None and final.triage_count == 2
    assert [e.changes["decision"] for e in events("notice.triaged")] == [
        {"old": None, "new": "needs_follow_up"},
        {"old": "needs_follow_up", "new": "ae_non_serious"},
    ]
    assert notice_open_count(user=officer) == 0


def test_a_closed_notice_is_neither_acknowledged_nor_triaged_again(notice, officer):
    notice_triage(notice=notice, user=officer, decision=TriageDecision.NOT_AE)
    closed = fresh(notice)
    with pytest.raises(Conflict) as again:
        notice_triage(notice=closed, user=officer, decision=TriageDecision.AE_SERIOUS, case_id="X1")
    assert again.value.code == "notice_closed"
    assert fresh(notice).triage_decision == "not_ae"


def test_of_two_concurrent_triages_the_second_is_refused(notice, officer):
    colleague = staff("sam.safety", Role.DRUG_SAFETY_OFFICER, "drug-safety")
    notice_acknowledge(notice=notice, user=officer)
    theirs, mine = fresh(notice), fresh(notice)
    notice_triage(notice=theirs, user=colleague, decision=TriageDecision.NEEDS_FOLLOW_UP)
    with pytest.raises(Conflict) as refused:
        notice_triage(notice=mine, user=officer, decision=TriageDecision.NOT_AE)
    assert refused.value.code == "changed_meanwhile" and "sam.safety" in refused.value.message
    stored = fresh(notice)
    assert stored.closed_at is None and stored.triage_decision == "needs_follow_up"
    assert len(events("notice.triaged")) == 1


# --- never closed without a triage decision ----------------------------------------------------


def test_the_service_refuses_a_triage_without_a_decision_and_writes_nothing(notice, officer):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        notice_triage(notice=notice, user=officer, decision="", case_id="AE-1", note=SECRET)
    assert [e["code"] for e in refused.value.errors] == ["decision_required"]
    stored = fresh(notice)
    assert stored.closed_at is None and stored.acknowledged_at is None
    assert AuditEvent.objects.count() == before
    assert not ReferralNote.objects.filter(kind=SAFETY_NOTE_KIND).exists()


@pytest.mark.parametrize(
    "values",
    [
        {"closed_at": "now"},  # no decision at all
        {
            "closed_at": "now",
            "triage_decision": "needs_follow_up",
            "triaged_at": "now",
            "acknowledged_at": "now",
        },  # a decision that keeps it open
        {"closed_at": "now", "triage_decision": "not_ae", "triaged_at": "now"},  # not acknowledged
        {"triage_decision": "ae_serious", "triaged_at": "now"},  # an AE without its case id
    ],  # fmt: skip
)
def test_the_database_refuses_a_notice_closed_without_triage(notice, values):
    now = timezone.now()
    values = {key: (now if value == "now" else value) for key, value in values.items()}
    with pytest.raises(IntegrityError), transaction.atomic():
        QueueNotice.objects.filter(pk=notice.pk).update(**values)


@pytest.mark.parametrize(
    ("decision", "case_id", "code"),
    [
        ("ae_serious", "", "case_id_required"),
        ("ae_non_serious", "   ", "case_id_required"),
        ("ae_serious", "A" * 40 + "1", "case_id_too_long"),
        ("ae_serious", "AE 2026 1", "case_id_invalid"),  # spaces: a name could hide there
        ("ae_serious", "avery.quill@example.org", "case_id_invalid"),
        ("not_ae", "ABCDEF", "case_id_invalid"),  # no digit: not an id
        ("ae_serious", "MORENO-123", "case_id_has_patient_data"),  # the lead's family name
        ("ae_serious", "AE-2125550101", "case_id_has_patient_data"),  # the lead's phone
    ],
)
def test_an_invalid_case_id_gets_a_specific_error_without_echoing_it(
    notice, officer, decision, case_id, code
):
    with pytest.raises(ValidationFailed) as refused:
        notice_triage(notice=notice, user=officer, decision=decision, case_id=case_id)
    [error] = refused.value.errors
    assert (error["field"], error["code"]) == ("case_id", code)
    assert not case_id.strip() or case_id.strip() not in error["message"]
    assert fresh(notice).closed_at is None and not events("notice.triaged")


def test_a_note_longer_than_a_note_may_be_is_refused(notice, officer):
    with pytest.raises(ValidationFailed) as refused:
        notice_triage(notice=notice, user=officer, decision="not_ae", note="x" * 2001)
    assert [e["code"] for e in refused.value.errors] == ["note_too_long"]


# --- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona",
    ["agent", "coordinator", "specialist", "reviewer", "rep", "owner", "auditor", "admin"],
)
def test_no_other_role_may_act_on_a_notice(notice, persona):
    user = make_personas()[persona]
    with pytest.raises(NotFound):
        notice_acknowledge(notice=notice, user=user)
    with pytest.raises(NotFound):
        notice_triage(notice=notice, user=user, decision="not_ae")
    assert not notice_list_visible_to(user=user).exists()
    assert notice_open_count(user=user) is None
    assert fresh(notice).acknowledged_at is None


def test_an_officer_of_another_team_may_not_act_on_the_notice(notice):
    elsewhere = staff("otto.safety", Role.DRUG_SAFETY_OFFICER, "patient-services")
    with pytest.raises(NotFound):
        notice_acknowledge(notice=notice, user=elsewhere)
    assert not notice_list_visible_to(user=elsewhere).exists()
    assert not referral_list_visible_to(user=elsewhere).exists()


def test_the_officer_reads_the_noticed_referral_and_its_lead_audited_but_never_works_it(
    notice, officer
):
    plain = submit("patient-support", support(5))  # no adverse event: no notice
    assert list(referral_list_visible_to(user=officer)) == [notice.referral]
    assert list(notice_list_visible_to(user=officer)) == [notice]
    view = lead_view(user=officer, referral=notice.referral, purpose="safety_notice")
    assert view["masked"] is False and view["fields"]["family_name"] == "Moreno"
    assert "rash" in view["answers"]["reason_for_contact"]
    event = AuditEvent.objects.get(action=PATIENT_DATA_VIEWED)
    assert event.changes["purpose"]["new"] == "safety_notice"
    assert policy.allowed_actions(officer, notice.referral) == frozenset()
    assert lead_view(user=officer, referral=plain) is None
    assert Role.DRUG_SAFETY_OFFICER not in assignee_roles(lead_kind="patient")


def test_lead_workers_of_other_teams_see_nothing_new(notice):
    people = make_personas()
    for persona in ("coordinator", "specialist", "reviewer", "rep"):
        user = people[persona]
        assert notice.referral not in referral_list_visible_to(user=user)
        assert lead_view(user=user, referral=notice.referral) is None
