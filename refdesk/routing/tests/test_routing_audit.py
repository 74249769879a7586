"""``refdesk routing audit``: re-routes, idle rules, default routes and unassigned queues.

The dataset: referrals submitted (and so routed) through ``referral_submit`` and re-routed by
staff through ``referral_reroute``, at frozen times.
"""

import json
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.accounts.choices import Role
from refdesk.accounts.models import Team, TeamMembership, User
from refdesk.intake.submissions import Submission
from refdesk.routing.audit_report import routing_audit
from refdesk.testing import latest_consent_version, make_referrer
from refdesk.workflow.route import referral_reroute
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db

FEB = datetime(2026, 2, 20, 14, tzinfo=UTC)
MAR = datetime(2026, 3, 10, 14, tzinfo=UTC)
CALL_BACK_ONLY = "Caller only wanted a call back"


def _support(request_type, n):
    return Submission(
        request_type=request_type,
        lead_kind="patient",
        therapy_area="oncology",
        lead={
            "given_name": "Robin",
            "family_name": f"Vale{n}",
            "preferred_contact": "email",
            "email": f"robin.vale{n}@example.net",
            "timezone": "America/New_York",
        },
        answers={"reason_for_contact": "Help with the co-pay card."},
        consent={
            "granted": True,
            "purposes": ["patient_support"],
            "channels": ["email"],
            "method": "self",
            "text_version": latest_consent_version("patient-support"),
        },
    )


def _education(n, therapy_area):
    return Submission(
        request_type="treatment_education",
        lead_kind="clinician",
        therapy_area=therapy_area,
        lead={
            "given_name": "Sam",
            "family_name": f"Okoro{n}",
            "specialty": "oncology",
            "preferred_contact": "email",
            "email": f"sam.okoro{n}@example-clinic.org",
        },
    )


def _at(when, referrer, submission):
    with time_machine.travel(when, tick=False):
        return referral_submit(
            referrer=referrer, submission=submission, method="web", actor=referrer
        ).referral


def _reroute(when, referral, queue, reason):
    with time_machine.travel(when, tick=False):
        referral_reroute(referral=referral, queue=queue, reason=reason, actor="user:agent")


@pytest.fixture
def month():
    """March 2026: 6 initial decisions (1 on the default route), 3 re-routes; one February one."""
    org = make_referrer("patient-support", "patient-org")
    colleague = make_referrer("provider-education", "hcp-referral")
    _at(FEB, org, _support("helpline_callback", 0))
    f1, f2, _f3 = (_at(MAR, org, _support("financial_assistance", n)) for n in (1, 2, 3))
    _at(MAR, org, _support("helpline_callback", 4))
    e1 = _at(MAR, colleague, _education(5, therapy_area=""))  # no area: the default route
    # From now on medical affairs has someone to assign work to; patient services never does:
    # its only agent is away (a team may be re-routed to: somebody in it works such leads).
    reviewer = User.objects.create(username="ines.medinfo", role=Role.MEDICAL_AFFAIRS_SPECIALIST)
    TeamMembership.objects.create(team=Team.objects.get(slug="medical-affairs"), user=reviewer)
    agent = User.objects.create(username="away.agent", role=Role.PATIENT_SERVICES_AGENT)
    TeamMembership.objects.create(
        team=Team.objects.get(slug="patient-services"), user=agent, available=False
    )
    _at(MAR, colleague, _education(6, therapy_area="oncology"))
    _reroute(datetime(2026, 3, 10, 16, tzinfo=UTC), f1, "patient-services", CALL_BACK_ONLY)
    _reroute(datetime(2026, 3, 10, 18, tzinfo=UTC), f2, "patient-services", CALL_BACK_ONLY)
    _reroute(datetime(2026, 3, 11, 14, tzinfo=UTC), e1, "medical-info-oncology", "Oncology")


def test_it_counts_reroutes_by_queue_with_reasons_and_time_to_reroute(month):
    report = routing_audit(month="2026-03").to_dict()
    reroutes = report["reroutes"]
    assert reroutes["count"] == 3
    assert (reroutes["median_hours"], reroutes["max_hours"]) == (4.0, 24.0)
    assert reroutes["by_queue"] == [
        {
            "from": "patient-access",
            "to": "patient-services",
            "count": 2,
            "reasons": [{"reason": CALL_BACK_ONLY, "count": 2}],
            "median_hours": 3.0,
            "max_hours": 4.0,
        },
        {
            "from": "medical-info-triage",
            "to": "medical-info-oncology",
            "count": 1,
            "reasons": [{"reason": "Oncology", "count": 1}],
            "median_hours": 24.0,
            "max_hours": 24.0,
        },
    ]


def test_it_counts_reroutes_by_the_rule_people_overrode(month):
    by_rule = routing_audit(month="2026-03").to_dict()["reroutes"]["by_rule"]
    assert [(group["from"], group["count"]) for group in by_rule] == [
        ("financial-assistance", 2),
        ("triage", 1),
    ]


def test_it_counts_the_default_route_and_its_share(month):
    report = routing_audit(month="2026-03")
    assert report.initial_decisions == 6
    assert report.default_route == 1
    assert report.to_dict()["default_route"] == {"count": 1, "share": round(1 / 6, 4)}


def test_it_lists_the_active_rules_that_never_matched_in_the_month(month):
    never = {(row["program"], row["rule"]) for row in routing_audit(month="2026-03").never_matched}
    assert never == {
        ("trial-prescreening", "rdx-301-prescreen"),
        ("trial-prescreening", "default"),
        ("provider-education", "clinical-question"),
        ("provider-education", "meeting-request"),
        ("provider-education", "product-discussion"),
        ("provider-education", "education-immunology"),
        ("patient-support", "patient-services"),
    }
    # February's only referral matched support-services, and nothing else.
    february = routing_audit(month="2026-02", program="patient-support")
    assert [row["rule"] for row in february.never_matched] == [
        "financial-assistance",
        "patient-services",
    ]


def test_it_lists_queues_with_unassigned_open_referrals_and_the_oldest(month):
    report = routing_audit(month="2026-03")
    assert [(row["queue"], row["count"], row["oldest"]) for row in report.unassigned] == [
        ("patient-access", 1, MAR),
        ("patient-services", 4, FEB),
    ]


def test_one_program_only(month):
    report = routing_audit(month="2026-03", program="patient-support").to_dict()
    assert report["initial_decisions"] == 4 and report["default_route"]["count"] == 0
    assert report["reroutes"]["count"] == 2
    assert [row["rule"] for row in report["never_matched_rules"]] == ["patient-services"]


def test_the_command_prints_a_table_and_json(month):
    out = StringIO()
    call_command("routing", "audit", "--month", "2026-03", stdout=out)
    table = out.getvalue()
    assert "re-routes: 3 (time from initial decision: median 4.0 h, max 24.0 h)" in table
    assert "default route: 1 (16.7% of initial decisions)" in table
    assert "patient-access -> patient-services" in table
    assert "patient-support: patient-services (#3, the default route)" in table
    out = StringIO()
    call_command("routing", "audit", "--month", "2026-03", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["unassigned_queues"][1] == {
        "queue": "patient-services",
        "count": 4,
        "oldest": FEB.isoformat(),
    }


def test_an_empty_month_reports_nothing_to_see(month):
    report = routing_audit(month="2025-12").to_dict()
    assert report["initial_decisions"] == 0 and report["reroutes"]["count"] == 0
    assert report["default_route"] == {"count": 0, "share": None}


@pytest.mark.parametrize("bad", ["2026-13", "March", "2026-3-01", ""])
def test_a_bad_month_is_one_clear_error(bad, db):
    with pytest.raises(CommandError, match="YYYY-MM") as raised:
        call_command("routing", "audit", "--month", bad, stdout=StringIO())
    assert raised.value.returncode == 1


def test_an_unknown_program_is_one_clear_error(db):
    with pytest.raises(CommandError, match="no program 'nope'") as raised:
        call_command("routing", "audit", "--month", "2026-03", "--program", "nope")
    assert raised.value.returncode == 1
