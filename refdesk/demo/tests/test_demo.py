"""refdesk demo: 90 days of history played in time order, verifiable, and idempotent.

One demo is built for the whole module (``demo``) and rolled back after it. The session has
applied the demo programs already (the root conftest), writing audit events at the real time,
and a history may not start before the newest event of the trail (it would break the chain's
time order), so the module runs 91 days ahead of the real clock (time-machine, ticking).
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from refdesk.access.selectors import notice_list_visible_to
from refdesk.accounts.choices import Role
from refdesk.accounts.models import User
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.consent.models import ConsentRecord
from refdesk.demo.builder import RULE_CHANGE_CLIENT_REF
from refdesk.demo.history import next_due
from refdesk.intake.models import Referral
from refdesk.outreach.models import Message
from refdesk.programs.models import ProgramVersion
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer
from refdesk.routing.models import RoutingDecision
from refdesk.scheduling.models import Appointment
from refdesk.workflow.safety import notice_clocks

pytestmark = pytest.mark.django_db

REFERRALS = 80
ZONE = ZoneInfo("America/New_York")  # the three demo programs' business-hours zone
COUNTED = (User, Referrer, Referral, ConsentRecord, ProgramVersion, AuditEvent, Appointment)


@dataclass
class Demo:
    out: str
    end: dt.datetime  # the history's last moment: when the command ran
    versions_before: int
    events_before: int  # audit events of the session (programs applied), before the demo's


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    ahead = timezone.now() + dt.timedelta(days=91)
    with (
        django_db_blocker.unblock(),
        time_machine.travel(ahead, tick=True),
        transaction.atomic(),
    ):
        versions_before = ProgramVersion.objects.count()
        events_before = AuditEvent.objects.count()
        out = io.StringIO()
        end = timezone.now()
        call_command("demo", "--referrals", str(REFERRALS), stdout=out)
        yield Demo(out.getvalue(), end, versions_before, events_before)
        transaction.set_rollback(True)


def _month_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, 1, tzinfo=ZONE)


def _last_month(demo: Demo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the month before the demo's, in the programs' zone."""
    this_month = _month_start(demo.end.astimezone(ZONE).date())
    return _month_start((this_month - dt.timedelta(days=1)).date()), this_month


def _counts():
    return {model.__name__: model.objects.count() for model in COUNTED}


def _synthetic():
    return Referral.objects.filter(client_ref__regex=r"^demo-\d{5}$")


def test_the_demo_prints_what_it_played(demo):
    assert f"referrals: {REFERRALS} created, 0 already there" in demo.out
    assert "steps played in time order; rule change on" in demo.out
    assert "refused" not in demo.out  # no person acted on a referral that had moved on
    assert "/r/" in demo.out and "admin" in demo.out


def test_a_second_run_adds_nothing_and_says_so(demo):
    first = _counts()
    out = io.StringIO()
    call_command("demo", "--referrals", str(REFERRALS), stdout=out)
    assert _counts() == first
    assert f"0 created, {REFERRALS} already there" in out.getvalue()
    assert "history: played by an earlier run; nothing added" in out.getvalue()
    # The synthetic referrals, the scheduling story's and the rule change's cost question.
    assert first["Referral"] == REFERRALS + 2 == _synthetic().count() + 2


def test_routing_times_are_spread_over_the_90_days_not_all_now(demo):
    routed = sorted(Referral.objects.exclude(routed_at=None).values_list("routed_at", flat=True))
    assert routed[0] < demo.end - dt.timedelta(days=80)
    # Every referral is routed at its receipt (in the submission's transaction) or, when it
    # lacked information, when the referrer supplied it: never at the moment the demo ran.
    assert all(r <= demo.end for r in routed)
    assert len({r.astimezone(ZONE).date() for r in routed}) > REFERRALS // 2
    # One referral of each of the 13 request types comes in during the last day (fresh work in
    # every queue); the rest are spread over the 90 days.
    in_last_day = [r for r in routed if r > demo.end - dt.timedelta(days=1)]
    assert len(in_last_day) < len(routed) / 5


def test_last_month_has_routing_decisions_and_closed_outcomes(demo):
    start, end = _last_month(demo)
    decisions = RoutingDecision.objects.filter(decided_at__gte=start, decided_at__lt=end)
    assert decisions.filter(kind="initial").count() >= 10
    closed = Referral.objects.filter(closed_at__gte=start, closed_at__lt=end).exclude(
        outcome="duplicate"
    )
    assert closed.count() >= 10
    assert {"qualified", "not_qualified"} <= set(closed.values_list("outcome", flat=True))


def test_audit_times_never_decrease_along_the_chain_and_it_verifies(demo):
    times = list(AuditEvent.objects.order_by("seq").values_list("occurred_at", flat=True))
    assert all(earlier <= later for earlier, later in zip(times, times[1:], strict=False))
    ours = times[demo.events_before :]
    assert ours[0] < demo.end - dt.timedelta(days=85) and ours[-1] <= timezone.now()
    assert len({moment.astimezone(ZONE).date() for moment in ours}) > 60
    assert audit_verify().ok


def test_the_worker_s_follow_up_ran_at_its_due_times(demo):
    """Acknowledgements, outreach and reminders went out in the past, under the clock, and
    nothing due before the demo ended was left for the real worker."""
    sent = Message.objects.filter(status__in=("sent", "delivered")).values_list(
        "sent_at", flat=True
    )
    assert len({moment.astimezone(ZONE).date() for moment in sent}) > 40
    assert (next_due() or demo.end) >= demo.end
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"referral.sla_warning", "referral.sla_breached", "referral.sla_escalated"} <= actions
    assert {"followup.attempt_due", "message.sent", "message.held"} <= actions


def test_a_rule_change_inside_last_month_with_two_versions_in_force(demo):
    start, end = _last_month(demo)
    versions = list(
        ProgramVersion.objects.filter(program__slug="patient-support").order_by("number")
    )
    assert ProgramVersion.objects.count() == demo.versions_before + 2
    in_force = [
        version
        for version, following in zip(versions, versions[1:] + [None], strict=True)
        if version.applied_at < end and (following is None or following.applied_at >= start)
    ]
    assert len(in_force) == 2
    earlier, later = in_force
    assert start <= later.applied_at < end
    routes = {
        version.number: [route.id for route in version_definition(version).routes]
        for version in in_force
    }
    assert "financial-assistance" not in routes[earlier.number]
    assert routes[later.number][0] == "financial-assistance"
    # The cost question received the afternoon before went to patient services by the earlier
    # version's default route, and was re-routed to patient access after the change.
    planted = Referral.objects.get(client_ref=RULE_CHANGE_CLIENT_REF)
    assert planted.program_version == earlier
    reroutes = RoutingDecision.objects.filter(kind="reroute", referral=planted)
    assert [(d.previous_queue.slug, d.queue.slug) for d in reroutes] == [
        ("patient-services", "patient-access")
    ]
    assert later.applied_at < reroutes[0].decided_at < end


def test_open_work_is_mostly_recent_and_few_first_responses_are_late(demo):
    now = timezone.now()
    open_work = Referral.objects.exclude(stage__in=("closed", "needs_info"))
    ages = [(now - received).days for received in open_work.values_list("received_at", flat=True)]
    assert ages and statistics.median(ages) <= 10
    breached = open_work.filter(first_responded_at=None, first_response_due_at__lt=now).count()
    assert breached <= len(ages) / 4
    # Most first responses come within the SLA, some do not. About 9 in 10 are on time, over
    # some seventy answered referrals whose history depends on the day it is played to: a
    # rate's upper bound failed a CI run (73 of 75), so the bound is "at least one late".
    answered = Referral.objects.exclude(first_responded_at=None).exclude(first_response_due_at=None)
    on_time = answered.filter(first_responded_at__lte=F("first_response_due_at")).count()
    assert on_time / answered.count() >= 0.75 and on_time < answered.count()


def test_the_demo_makes_one_user_per_role_and_varied_work(demo):
    assert set(User.objects.values_list("role", flat=True)) == set(Role.values)
    outcomes = set(Referral.objects.values_list("outcome", "outcome_reason"))
    assert {
        ("qualified", ""),
        ("not_qualified", "criteria_not_met"),
        ("unreachable", "retries_exhausted"),
        ("declined", "lead_declined"),
    } <= outcomes
    prescreens = set(
        AuditEvent.objects.filter(action="referral.prescreen_recorded").values_list(
            "changes__prescreen_outcome__new", flat=True
        )
    )
    assert {"eligible", "not_eligible"} <= prescreens
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "review.approved",
        "referral.contact_attempted",
        "appointment.rescheduled",
        "notice.triaged",
    } <= actions
    # Four in five referrers answer a completion request within 2 to 72 hours. How many
    # requests the 80 referrals get, and when, depends on the day the history is played to
    # (once, every incomplete referral arrived too late or went unanswered: no answer at all;
    # on a usual day about four are old enough). From three such referrals on, "none
    # answered" is a chance of 1 in 125 or less, and the demo must show an answer.
    answerable = AuditEvent.objects.filter(
        changes__stage__new="needs_info", occurred_at__lt=timezone.now() - dt.timedelta(hours=72)
    ).count()
    if answerable >= 3:
        assert "referral.info_supplied" in actions
    statuses = list(Appointment.objects.values_list("status", flat=True))
    attended, missed = statuses.count("attended"), statuses.count("no_show")
    # Some missed, most kept: the demo's ~15% no-show rate over a handful of appointments
    # (about twenty at this size) varies with the day the history is played to, so the bound
    # is "fewer missed than kept", not a rate (8 of 19 missed happened: 42%).
    assert attended and missed and missed < attended


def test_the_demo_leads_can_be_found_by_name(demo, client):
    """After `make run`, an agent finds a demo lead of their queue by part of its name."""
    agent = User.objects.get(role=Role.PATIENT_SERVICES_AGENT)
    referral = (
        Referral.objects.filter(queue__slug="patient-services").order_by("-received_at").first()
    )
    assert referral is not None
    query = f"{referral.lead['given_name'][:3]} {referral.lead['family_name']}".lower()
    client.force_login(agent)
    page = client.post(reverse("desk:search"), {"q": query}).content.decode()
    assert f"/desk/referrals/{referral.public_id}" in page


def test_every_queue_a_request_type_routes_to_has_fresh_open_work(demo):
    """Whatever the demo's size, each queue has open referrals from the last days to work
    (the browser walkthrough opens the first one of a queue)."""
    recent = Referral.objects.filter(received_at__gt=demo.end - dt.timedelta(days=1)).exclude(
        stage="closed"
    )
    queues = set(recent.exclude(queue=None).values_list("queue__slug", flat=True))
    assert {
        "clinical-ops-prescreening",
        "patient-services",
        "patient-access",
        "commercial",
        "medical-review",
    } <= queues


def test_demo_gives_the_safety_officer_a_possible_adverse_event_to_triage(demo):
    safety = User.objects.get(username="safety")
    assert safety.role == Role.DRUG_SAFETY_OFFICER
    assert list(safety.memberships.values_list("team__slug", flat=True)) == ["drug-safety"]
    notices = list(notice_list_visible_to(user=safety).filter(closed_at__isnull=True))
    assert notices, "the demo holds no possible adverse event"
    now = timezone.now()
    assert any(not notice_clocks(notice).triage_overdue(now) for notice in notices)
    # The officer works notices in one sitting: an open one is one they have not seen yet.
    assert all(notice.acknowledged_at is None for notice in notices)


def test_the_scheduling_story_is_booked_by_link_moved_missed_and_checked(demo):
    """Issue 12's "done when": a patient-support referral booked through the lead's link, its
    invite and reminders sent, rescheduled once, marked no-show, the manual check open — all on
    its timeline — and the demo's agenda holds upcoming appointments."""
    from refdesk.desk.timeline import referral_timeline
    from refdesk.workflow.models import ManualCheck

    story = Referral.objects.get(client_ref="demo-scheduling-story")
    assert f"Scheduling story: {story.reference}" in demo.out
    appointment = Appointment.objects.get(referral=story)
    assert appointment.booked_via == "lead_link" and appointment.reschedules == 1
    assert appointment.status == "no_show" and appointment.sequence == 1
    assert story.received_at < appointment.starts_at < demo.end
    sent = set(
        Message.objects.filter(referral=story, status__in=("sent", "delivered")).values_list(
            "purpose", flat=True
        )
    )
    assert {"manual", "confirmation", "appointment_change", "reminder", "reschedule_offer"} <= sent
    assert Message.objects.filter(appointment=appointment, purpose="appointment_change")[
        0
    ].calendar.count("SEQUENCE:1")
    assert ManualCheck.objects.filter(referral=story, resolved_at__isnull=True).exists()
    actions = [entry.action for entry in referral_timeline(referral=story, show_free_text=False)]
    for step in (
        "referral.scheduled",
        "appointment.rescheduled",
        "referral.unscheduled",
        "followup.manual_check",
    ):
        assert step in actions, step
    assert Appointment.objects.filter(status="booked", starts_at__gt=timezone.now()).count() >= 3


def test_demo_passwords_log_in(demo):
    from refdesk.demo.builder import demo_password

    user = User.objects.get(username="coordinator")
    assert user.check_password(demo_password("coordinator"))
