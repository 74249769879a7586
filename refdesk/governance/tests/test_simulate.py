"""``refdesk program simulate``: what a draft program would change, measured on stored referrals,
without writing anything."""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.accounts.choices import Role
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.governance.simulation import FactsBuilder, program_simulate
from refdesk.governance.simulation.stored import chunks, referral_rows
from refdesk.intake.choices import Outcome
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission
from refdesk.programs.selectors import version_definition
from refdesk.routing.facts import referral_facts
from refdesk.routing.models import RoutingDecision
from refdesk.testing import (
    PROGRAMS_DIR,
    latest_consent_version,
    make_referrer,
    staff,
    trial_submission,
    valid_npi,
)
from refdesk.workflow.closing import referral_close
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db

EARLY = datetime(2026, 2, 2, 15, tzinfo=UTC)
LATE = datetime(2026, 3, 2, 15, tzinfo=UTC)
FINANCIAL_ROUTE = "    then: {queue: patient-access}"
MEETING_ROUTE = """      queue: msl-field-team
      flags: [extra_validation]
      checks:
        - id: specialty_in_target
          label: Specialty is in the program's target list
          when: {target_specialty: true}
        - id: npi_valid
          label: NPI is given and valid
          when: {npi_check: valid}
"""


def _draft(tmp_path, slug, old="", new=""):
    """A copy of a demo program file with ``old`` replaced by ``new``."""
    text = (PROGRAMS_DIR / f"{slug}.yaml").read_text()
    assert old in text
    path = tmp_path / f"{slug}.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def _support(request_type, reason="Would like help with the co-pay card.", n=0, **kwargs):
    return Submission(
        request_type=request_type,
        lead_kind="patient",
        therapy_area="immunology",
        lead={
            "given_name": "Robin",
            "family_name": f"Vale{n}",
            "preferred_contact": "email",
            "email": f"robin.vale{n}@example.net",
            "timezone": "America/New_York",
            "country": "US",
        },
        answers={"reason_for_contact": reason},
        consent={
            "granted": True,
            "purposes": ["patient_support"],
            "channels": ["email"],
            "method": "self",
            "text_version": latest_consent_version("patient-support"),
        },
        **kwargs,
    )


def _education(request_type, n=0, **lead):
    return Submission(
        request_type=request_type,
        lead_kind="clinician",
        therapy_area="oncology",
        lead={
            "given_name": "Sam",
            "family_name": f"Okoro{n}",
            "specialty": "oncology",
            "preferred_contact": "email",
            "email": f"sam.okoro{n}@example-clinic.org",
            "npi": valid_npi(n),
            **lead,
        },
        answers={},
    )


def _submit(referrer, submission, received_at=LATE):
    return referral_submit(
        referrer=referrer,
        submission=submission,
        method="web",
        actor=referrer,
        received_at=received_at,
    ).referral


@pytest.fixture
def stored():
    """Routed referrals of the three demo programs; references by what they are."""
    org = make_referrer("patient-support", "patient-org")
    colleague = make_referrer("provider-education", "hcp-referral")
    coordinator = make_referrer("trial-prescreening", "study-coordinator")
    refs = {
        "financial_early": _submit(org, _support("financial_assistance", n=1), EARLY),
        "financial_late": _submit(org, _support("financial_assistance", n=2)),
        "callback": _submit(org, _support("helpline_callback", n=3)),
        "side_effect": _submit(
            org, _support("adherence_support", "I got a rash after the last dose", n=4)
        ),
        "meeting": _submit(colleague, _education("meeting_request", n=5)),
        "education": _submit(colleague, _education("treatment_education", n=6)),
        "question": _submit(colleague, _education("guideline_update", n=7)),
        "ecog_1": _submit(coordinator, trial_submission(lead=_trial_lead(9), answers={"ecog": 1})),
        "ecog_2": _submit(coordinator, trial_submission(lead=_trial_lead(10), answers={"ecog": 2})),
        "ecog_unknown": _submit(
            coordinator, trial_submission(lead=_trial_lead(11), answers={"ecog": None})
        ),
    }
    # Not replayed: a duplicate of the callback (same email) and one entered in error.
    refs["duplicate"] = _submit(org, _support("helpline_callback", n=3))
    refs["mistake"] = _submit(org, _support("helpline_callback", n=8))
    referral_close(
        referral=refs["mistake"],
        outcome=Outcome.ENTERED_IN_ERROR,
        actor="user:coordinator",
        reason_code="entered_in_error",
    )
    assert refs["duplicate"].outcome == Outcome.DUPLICATE
    return {name: referral.reference for name, referral in refs.items()}


def _trial_lead(n):
    return {"email": f"avery{n}@example.org", "phone": f"(617) 555-01{n:02d}"}


def test_an_unchanged_program_changes_nothing(stored):
    for slug in ("trial-prescreening", "patient-support", "provider-education"):
        definition = version_definition(
            Referral.objects.filter(program__slug=slug)[0].program_version
        )
        report = program_simulate(definition=definition)
        assert report.changed == 0, report.to_dict()
        assert report.groups == {}
    assert report.replayed == 3  # provider-education


def test_it_reports_exactly_the_referrals_whose_route_changes(stored, tmp_path):
    draft = _draft(
        tmp_path, "patient-support", FINANCIAL_ROUTE, "    then: {queue: patient-services}"
    )
    out = StringIO()
    call_command("program", "simulate", str(draft), "--format", "json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["replayed"] == 4 and report["changed"] == 2
    assert report["draft_version"] == 2 and report["active_version"] == 1
    (route,) = report["routes"]
    assert route["from"] == {"queue": "patient-access", "rule": "financial-assistance"}
    assert route["to"] == {"queue": "patient-services", "rule": "financial-assistance"}
    assert route["count"] == 2
    assert sorted(route["examples"]) == sorted(
        [stored["financial_early"], stored["financial_late"]]
    )
    assert report["outcomes"] == [] and report["flags"] == []


def test_a_meeting_request_sent_to_triage_shows_the_route_and_the_dropped_flag(stored, tmp_path):
    draft = _draft(
        tmp_path, "provider-education", MEETING_ROUTE, "      queue: medical-info-triage\n"
    )
    report = program_simulate(definition=_load(draft)).to_dict()
    assert report["changed"] == 1
    (route,) = report["routes"]
    assert route["from"] == {"queue": "msl-field-team", "rule": "meeting-request"}
    assert route["to"] == {"queue": "medical-info-triage", "rule": "meeting-request"}
    assert route["examples"] == [stored["meeting"]]
    assert report["flags"] == [
        {
            "kind": "flag_removed",
            "from": "extra_validation",
            "to": None,
            "count": 1,
            "examples": [stored["meeting"]],
        }
    ]


def test_a_stricter_prescreen_marker_changes_outcomes_from_eligible(stored, tmp_path):
    draft = _draft(tmp_path, "trial-prescreening", "require: {gte: 0, lte: 2}", "require: {lte: 1}")
    report = program_simulate(definition=_load(draft)).to_dict()
    assert (report["replayed"], report["changed"]) == (3, 1)
    assert report["routes"] == [] and report["flags"] == []
    assert report["outcomes"] == [
        {
            "kind": "prescreen",
            "from": "eligible",
            "to": "not_eligible",
            "count": 1,
            "examples": [stored["ecog_2"]],
        },
        {
            "kind": "qualified",
            "from": True,
            "to": False,
            "count": 1,
            "examples": [stored["ecog_2"]],
        },
    ]
    out = StringIO()
    call_command("program", "simulate", str(draft), stdout=out)
    assert "prescreen: eligible -> not_eligible" in out.getvalue()
    assert "qualified: yes -> no" in out.getvalue()


def test_the_table_names_references_and_never_patient_data(stored, tmp_path):
    draft = _draft(
        tmp_path, "patient-support", FINANCIAL_ROUTE, "    then: {queue: patient-services}"
    )
    out = StringIO()
    call_command("program", "simulate", str(draft), stdout=out)
    table = out.getvalue()
    assert "replayed 4 decision(s); 2 would change" in table
    assert "skipped: 1 duplicate(s), 1 entered in error, 0 not routed yet" in table
    assert (
        "patient-access (financial-assistance) -> patient-services (financial-assistance)" in table
    )
    assert stored["financial_late"] in table
    for patient_value in ("Robin", "Vale", "example.net", "co-pay", "rash"):
        assert patient_value not in table


def test_an_alert_that_stops_matching_reports_its_flag_removed(stored, tmp_path):
    draft = _draft(tmp_path, "patient-support", "  - rash\n", "")
    report = program_simulate(definition=_load(draft))
    (group,) = report.by_kind("flag_removed")
    assert (group.before, group.examples) == ("possible_adverse_event", [stored["side_effect"]])
    assert report.changed == 1


def test_since_leaves_out_earlier_referrals(stored, tmp_path):
    draft = _draft(
        tmp_path, "patient-support", FINANCIAL_ROUTE, "    then: {queue: patient-services}"
    )
    out = StringIO()
    call_command(
        "program", "simulate", str(draft), "--since", "2026-03-01", "--format", "json", stdout=out
    )
    report = json.loads(out.getvalue())
    assert report["since"] == "2026-03-01"
    assert report["replayed"] == 3 and report["changed"] == 1
    assert report["routes"][0]["examples"] == [stored["financial_late"]]


def test_it_writes_nothing(stored, tmp_path):
    draft = _draft(
        tmp_path, "patient-support", FINANCIAL_ROUTE, "    then: {queue: patient-services}"
    )
    before = _row_counts()
    head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    call_command("program", "simulate", str(draft), stdout=StringIO())
    call_command("program", "simulate", str(draft), "--format", "json", stdout=StringIO())
    assert _row_counts() == before
    assert AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first() == head
    assert audit_verify().ok


def test_the_replay_refuses_writes_while_it_runs(stored, monkeypatch):
    from refdesk.governance.simulation import replay

    def write_during_replay(*args, **kwargs):
        RoutingDecision.objects.update(reason="tampered")

    monkeypatch.setattr(replay, "referral_rows", write_during_replay)
    definition = version_definition(
        Referral.objects.filter(program__slug="patient-support")[0].program_version
    )
    with pytest.raises(Exception, match="(?i)read.?only"):
        program_simulate(definition=definition)
    assert not RoutingDecision.objects.filter(reason="tampered").exists()


def test_its_facts_are_the_routing_services_facts(stored):
    referral = Referral.objects.get(reference=stored["meeting"])
    definition = version_definition(referral.program_version)
    builder = FactsBuilder(
        definition,
        sources={referral.source_id: referral.source.slug},
        referrers={referral.referrer_id: referral.referrer.code},
    )
    rows, _, _ = referral_rows(referral.program, None)
    (row,) = next(chunks(rows.filter(pk=referral.pk), referral.program_id, {})).rows
    decided_at = referral.decisions.get().decided_at
    assert builder.facts(row, [], decided_at) == referral_facts(referral, definition=definition)


# pytest-xdist runs tests beside its own threads; the forked workers only decide (pure code) and
# never take those threads' locks.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_worker_processes_report_exactly_what_one_process_does(stored, tmp_path, monkeypatch):
    from refdesk.governance.simulation import stored as reading

    monkeypatch.setattr(reading, "CHUNK", 2)  # several chunks, so the merge is exercised
    draft = _load(
        _draft(tmp_path, "provider-education", MEETING_ROUTE, "      queue: commercial\n")
    )
    alone = program_simulate(definition=draft, workers=1).to_dict()
    assert alone["changed"] == 1
    assert program_simulate(definition=draft, workers=2).to_dict() == alone


def test_consent_withdrawn_after_the_decision_is_not_a_rule_change(stored):
    from refdesk.consent.models import ConsentRecord
    from refdesk.workflow.consent import consent_withdraw

    referral = Referral.objects.get(reference=stored["callback"])
    consent_withdraw(referral=referral, actor="user:agent", reason="lead_request")
    assert ConsentRecord.objects.filter(referral=referral).count() == 2
    definition = version_definition(referral.program_version)
    assert program_simulate(definition=definition).changed == 0


def test_a_staff_reroute_is_not_a_rule_change(stored):
    from refdesk.workflow.route import referral_reroute

    staff("p-agent", Role.PATIENT_SERVICES_AGENT, "patient-services")
    referral = Referral.objects.get(reference=stored["callback"])
    referral_reroute(
        referral=referral, queue="patient-access", reason="asked about costs", actor="user:agent"
    )
    definition = version_definition(referral.program_version)
    assert program_simulate(definition=definition).changed == 0


def test_an_invalid_file_fails_like_validate(tmp_path, stored):
    draft = _draft(tmp_path, "patient-support", FINANCIAL_ROUTE, "    then: {queue: nowhere}")
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("program", "simulate", str(draft), stderr=err)
    assert raised.value.returncode == 1
    assert "nowhere" in err.getvalue()


def test_a_program_never_applied_has_nothing_to_replay(tmp_path, db):
    draft = _draft(tmp_path, "patient-support", "id: patient-support", "id: new-support-line")
    with pytest.raises(CommandError, match="not been applied") as raised:
        call_command("program", "simulate", str(draft), stdout=StringIO())
    assert raised.value.returncode == 1


def test_a_bad_since_date_is_one_clear_error(stored, tmp_path):
    draft = _draft(tmp_path, "patient-support")
    with pytest.raises(CommandError, match="YYYY-MM-DD") as raised:
        call_command("program", "simulate", str(draft), "--since", "March", stdout=StringIO())
    assert raised.value.returncode == 1


def _load(path):
    from refdesk.programs.loader import load_program_file

    return load_program_file(path).definition


def _row_counts():
    return {
        model._meta.label: model._base_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }
