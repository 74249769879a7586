"""What the demo's people do, step by step, each through the real service at its moment.

Referrers submit (``arrive``) and supply what was missing (``complete``); the medical reviewer
decides reviews; staff claim in business hours, call or write (``contact``, with retries two
business days apart), record prescreen outcomes, book, move and cancel appointments, record
attendance and close with an outcome; leads book again after a no-show through their link or
withdraw consent; the drug-safety officer acknowledges and triages possible adverse events.
Everything a worker does (acknowledgements, automatic outreach, retries, SLA warnings and
escalations, closing unreachable leads, reminders) is left to the real follow-up machinery,
which ``History`` runs at its due times.

Each step re-reads its referral and does nothing when the referral has moved on (a timer closed
it, the lead withdrew); a service's refusal is counted by ``History``.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from refdesk.accounts.models import User
from refdesk.consent.choices import WithdrawalReason
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage
from refdesk.intake.models import Referral
from refdesk.intake.submissions import Submission
from refdesk.programs.engine import add_business_time, business_time_between
from refdesk.programs.engine.compiled import compiled
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer
from refdesk.routing.choices import ReviewState, TriageDecision
from refdesk.routing.models import QueueNotice
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.attendance import appointment_record_attendance
from refdesk.workflow.booking import (
    LEAD,
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
    next_free_slots,
)
from refdesk.workflow.checks import manual_check_resolve, open_checks
from refdesk.workflow.closing import (
    referral_close,
    referral_record_prescreen,
    referral_update_answers,
)
from refdesk.workflow.consent import consent_withdraw
from refdesk.workflow.contact import contact_attempt_log, lead_contact_check
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.route import referral_reroute
from refdesk.workflow.safety import notice_acknowledge, notice_triage
from refdesk.workflow.submission import referral_complete, referral_submit

# The share of first responses given within the SLA is about 1 - P(lognormal > 1) with these:
# a median of 35% of the SLA's business time and sigma 0.8 give ~9% late (before the time a
# review takes), so roughly nine in ten referrals are answered in time.
FIRST_RESPONSE_MEDIAN = 0.35
FIRST_RESPONSE_SIGMA = 0.8
REACHED = (0.6, 0.5, 0.4)  # chance the lead answers attempt 1, 2, 3
NO_SHOW = 0.15
# What the referrer supplies through the completion link, by missing item.
SUPPLIED = {
    "lead.preferred_contact": "email",
    "lead.specialty": "oncology",
    "answers.ecog": 1,
    "answers.prior_therapy_lines": 1,
}
OPEN = (Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED, Stage.AWAITING_REVIEW)
WORKING = (Stage.QUEUED, Stage.IN_PROGRESS)


def npi(number: int) -> str:
    """A valid (check digit) synthetic NPI, distinct per number."""
    base = f"1{number % 10**8:08d}"
    total = 24  # the 80840 prefix
    for position, char in enumerate(reversed(base)):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return base + str((10 - total % 10) % 10)


class People:
    """The cast and their habits; steps are methods run by ``History`` (``history.at``)."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.users = {user.username: user for user in User.objects.all()}

    # --- helpers -------------------------------------------------------------------------

    def load(self, pk: int) -> Referral:
        return Referral.objects.select_related(
            "program", "program_version", "queue__team", "assigned_to", "referrer__source"
        ).get(pk=pk)

    def calendar(self, referral: Referral):
        return compiled(version_definition(referral.program_version)).calendar

    def business(self, referral: Referral, start: datetime, hours: float) -> datetime:
        """``hours`` of the program's business time after ``start``."""
        return add_business_time(start, calendar=self.calendar(referral), hours=hours)

    # --- intake --------------------------------------------------------------------------

    def arrive(
        self,
        history,
        referrer: Referrer,
        submission: Submission,
        method: str,
        client_ref: str,
        journey: bool = True,
        triage: bool = True,
    ) -> Referral | None:
        """A referrer submits; routing happens in the same transaction."""
        result = referral_submit(
            referrer=referrer,
            submission=submission,
            method=method,
            actor=referrer,
            client_ref=client_ref,
            received_at=history.now,
        )
        if result.created and journey:
            self.after_intake(history, result.referral, triage=triage)
        return result.referral

    def after_intake(self, history, referral: Referral, *, triage: bool = True) -> None:
        if referral.stage == Stage.CLOSED:
            return  # a duplicate: added to the first referral
        if referral.stage == Stage.NEEDS_INFO:
            if self.rng.random() < 0.8:  # most referrers answer the completion request
                delay = timedelta(hours=self.rng.uniform(2, 72))
                history.at(history.now + delay, self.complete, referral.pk)
            return
        self.routed(history, referral, triage=triage)

    def complete(self, history, pk: int) -> None:
        """The referrer supplies the missing items through the completion link."""
        referral = self.load(pk)
        if referral.stage != Stage.NEEDS_INFO:
            return
        lead, answers = {}, {}
        for item in referral.missing:
            kind, _, name = item.partition(".")
            value = npi(referral.pk) if item == "lead.npi" else SUPPLIED.get(item)
            if value is not None:
                (lead if kind == "lead" else answers)[name] = value
        referral_complete(
            referral=referral, lead_updates=lead, answer_updates=answers, actor=referral.referrer
        )
        referral = self.load(pk)
        if referral.stage not in (Stage.NEEDS_INFO, Stage.CLOSED):
            self.routed(history, referral)

    def routed(self, history, referral: Referral, *, triage: bool = True) -> None:
        """After routing: safety notices, the review, the first response."""
        for notice in QueueNotice.objects.filter(referral=referral, closed_at__isnull=True):
            later = history.now + timedelta(hours=self.rng.uniform(0.5, 6))
            history.at(later, self.notice_acknowledge, notice.pk, triage)
        if referral.stage == Stage.AWAITING_REVIEW:
            hours = self.rng.lognormvariate(math.log(3), 0.7)
            history.at(self.business(referral, history.now, hours), self.review, referral.pk)
        elif referral.stage == Stage.QUEUED:
            self.plan_first_response(history, referral)

    # --- staff ---------------------------------------------------------------------------

    def plan_first_response(self, history, referral: Referral) -> None:
        """Claim, then the first contact, after a share of the SLA's business time."""
        due = referral.first_response_due_at
        if due is None or referral.first_responded_at is not None:
            history.at(self.business(referral, history.now, 1), self.claim, referral.pk)
            return
        allowed = business_time_between(history.now, due, calendar=self.calendar(referral))
        allowed_hours = max(allowed.total_seconds() / 3600, 1.0)
        hours = allowed_hours * self.rng.lognormvariate(
            math.log(FIRST_RESPONSE_MEDIAN), FIRST_RESPONSE_SIGMA
        )
        claim_at = self.business(referral, history.now, hours * self.rng.uniform(0.05, 0.5))
        contact_at = self.business(referral, history.now, max(hours, 0.1))
        history.at(claim_at, self.claim, referral.pk, contact_at)

    def claim(self, history, pk: int, contact_at: datetime | None = None) -> None:
        referral = self.load(pk)
        if referral.stage != Stage.QUEUED or referral.assigned_to is None:
            return  # moved on, or nobody in the team: it waits in the queue
        referral_claim(referral=referral, user=referral.assigned_to)
        history.at(max(contact_at or history.now, history.now), self.contact, pk, 1)

    def contact(self, history, pk: int, attempt: int) -> None:
        """A call or an email to the lead, logged with its outcome."""
        referral = self.load(pk)
        if referral.stage not in WORKING or referral.assigned_to is None:
            return
        if referral.lead_reached_at is not None:
            history.at(self.business(referral, history.now, 0.5), self.work, pk)
            return
        channel = self._channel(referral)
        if channel is None:
            return  # consent does not allow it; the timers and a person's check take over
        roll = self.rng.random()
        if roll < 0.04:
            outcome = "declined"
        elif roll < 0.04 + REACHED[min(attempt, 3) - 1]:
            outcome = "reached"
        else:
            outcome = "left_message" if channel == "phone" and roll > 0.8 else "no_answer"
        contact_attempt_log(
            referral=referral, channel=channel, outcome=outcome, note="", actor=referral.assigned_to
        )
        if outcome == "declined":
            history.at(history.now + timedelta(minutes=5), self.close, pk, Outcome.DECLINED)
        elif outcome == "reached":
            hours = self.rng.uniform(0.1, 6)
            history.at(self.business(referral, history.now, hours), self.work, pk)
        elif attempt < 3:
            # The retry cadence's next attempt is due in two or three days; someone makes it.
            later = history.now + timedelta(days=self.rng.choice([2, 2, 3]))
            history.at(
                self.business(referral, later, self.rng.uniform(0, 4)),
                self.contact,
                pk,
                attempt + 1,
            )
        else:
            # Three tries: the retry window's timer closes it unreachable; when it asks a person
            # instead (a high-value lead), the assignee closes it after a last look.
            history.at(history.now + timedelta(days=self.rng.uniform(6, 9)), self.give_up, pk)

    def _channel(self, referral: Referral) -> str | None:
        lead = referral.lead
        wanted = [referral.preferred_contact, "phone", "email"]
        for channel in dict.fromkeys(c for c in wanted if c in ("phone", "email", "sms")):
            detail = lead.get("email" if channel == "email" else "phone")
            if detail and lead_contact_check(referral=referral, channel=channel).allowed:
                return channel
        return None

    def give_up(self, history, pk: int, after_no_show: bool = False) -> None:
        """The assignee closes a lead they cannot reach (after three tries, or after a missed
        appointment and no new booking), resolving the checks the timers opened."""
        referral = self.load(pk)
        if referral.stage not in OPEN or referral.assigned_to is None:
            return
        if referral.lead_reached_at is not None and not after_no_show:
            return
        if referral.appointments.filter(status=AppointmentStatus.BOOKED).exists():
            return  # booked again meanwhile
        for check in open_checks(referral):
            manual_check_resolve(check=check, user=referral.assigned_to)
        self.close(history, pk, Outcome.UNREACHABLE, "retries_exhausted")

    def work(self, history, pk: int) -> None:
        """The lead is reached: what happens next depends on the program."""
        referral = self.load(pk)
        if referral.stage not in WORKING or referral.assigned_to is None:
            return
        if referral.stage == Stage.QUEUED:
            referral_claim(referral=referral, user=referral.assigned_to)
            referral = self.load(pk)
        goal = referral.program.goal
        if goal == "trial_prescreening":
            self._prescreen(history, referral)
            return
        roll = self.rng.random()
        soon = self.business(referral, history.now, self.rng.uniform(0.2, 3))
        if goal == "patient_support":
            if roll < 0.35:
                history.at(soon, self.book, pk, "support-call")
            elif roll < 0.80:
                history.at(soon, self.close, pk, Outcome.QUALIFIED)
            elif roll < 0.90:
                history.at(soon, self.close, pk, Outcome.DECLINED)
            else:
                history.at(soon, self.withdraw, pk)
            return
        if referral.request_type == "meeting_request":
            history.at(soon, self.book, pk, "msl-meeting")
        elif roll < 0.60:
            history.at(soon, self.close, pk, Outcome.QUALIFIED)
        elif roll < 0.75:
            history.at(soon, self.close, pk, Outcome.NOT_QUALIFIED)
        elif roll < 0.85:
            history.at(soon, self.close, pk, Outcome.DECLINED)
        else:
            history.at(soon, self.book, pk, "medical-info-call")

    def _prescreen(self, history, referral: Referral) -> None:
        """Trial prescreening: confirm the engine's markers, or wait for records."""
        decision = referral.decisions.order_by("-decided_at", "-id").first()
        prescreen = (decision.decision if decision else {}).get("prescreen") or {}
        outcome = prescreen.get("outcome") or referral.prescreen_outcome
        reasons = list(prescreen.get("reasons") or ())
        user = referral.assigned_to
        soon = self.business(referral, history.now, self.rng.uniform(0.2, 2))
        if outcome == PrescreenOutcome.ELIGIBLE:
            referral_record_prescreen(referral=referral, outcome=outcome, actor=user)
            history.at(soon, self.book, referral.pk, "prescreen-call")
        elif outcome == PrescreenOutcome.NOT_ELIGIBLE:
            referral_record_prescreen(
                referral=referral, outcome=outcome, actor=user, reasons=reasons
            )
            history.at(soon, self.close, referral.pk, Outcome.NOT_QUALIFIED)
        else:
            # A marker is unknown: records are requested from the site and arrive days later.
            referral_record_prescreen(
                referral=referral, outcome=PrescreenOutcome.PENDING, actor=user, reasons=reasons
            )
            later = history.now + timedelta(days=self.rng.uniform(3, 12))
            history.at(self.business(referral, later, 1), self.records_arrive, referral.pk)

    def records_arrive(self, history, pk: int) -> None:
        referral = self.load(pk)
        if referral.stage not in WORKING or referral.assigned_to is None:
            return
        missing = {
            name: SUPPLIED.get(f"answers.{name}", 1)
            for name in ("ecog", "prior_therapy_lines")
            if name not in referral.answers
        }
        if missing:
            referral_update_answers(
                referral=referral,
                answers=missing,
                actor=referral.assigned_to,
                reason="Medical records received from the site.",
            )
        self._prescreen(history, self.load(pk))

    def book(self, history, pk: int, type_key: str) -> None:
        """Staff book a call or meeting with the lead, on the phone: an early free slot."""
        referral = self.load(pk)
        if referral.stage not in WORKING or referral.assigned_to is None:
            return
        slots = self._ahead(
            next_free_slots(referral=referral, type_key=type_key, lead=False), history
        )
        mine = [slot for slot in slots if slot.member_id == referral.assigned_to_id] or slots
        if not mine:
            # Nobody free in the window: the conversation happens on this call instead.
            history.at(history.now + timedelta(minutes=30), self.close, pk, Outcome.QUALIFIED)
            return
        if referral.stage == Stage.QUEUED:
            referral_claim(referral=referral, user=referral.assigned_to)
            referral = self.load(pk)
        slot = mine[min(len(mine) - 1, self.rng.randrange(0, 12))]
        appointment = appointment_book(
            referral=referral,
            type_key=type_key,
            starts_at=slot.starts_at,
            actor=referral.assigned_to,
            member=User.objects.get(pk=slot.member_id),
        )
        self._after_booking(history, appointment)

    def _ahead(self, slots: list, history) -> list:
        """Slots from the next day on (a call booked on the phone is rarely for this hour)."""
        return [slot for slot in slots if slot.starts_at >= history.now + timedelta(hours=18)]

    def _after_booking(self, history, appointment: Appointment) -> None:
        roll = self.rng.random()
        before = appointment.starts_at - history.now
        if roll < 0.12:
            history.at(history.now + before / 3, self.reschedule, appointment.pk)
        elif roll < 0.17:
            history.at(history.now + before / 2, self.cancel, appointment.pk)
        history.at(appointment.ends_at + timedelta(minutes=10), self.attendance, appointment.pk)

    def reschedule(self, history, appointment_pk: int) -> None:
        appointment = Appointment.objects.select_related("referral", "member").get(
            pk=appointment_pk
        )
        if appointment.status != AppointmentStatus.BOOKED:
            return
        slots = next_free_slots(
            referral=appointment.referral,
            type_key=appointment.type_key,
            lead=False,
            moving=appointment,
        )
        later = [s for s in slots if s.starts_at >= appointment.starts_at + timedelta(days=1)]
        if not later:
            return
        appointment_reschedule(
            appointment=appointment,
            starts_at=later[min(len(later) - 1, self.rng.randrange(0, 6))].starts_at,
            actor=appointment.member,
            reason="lead_request",
        )

    def cancel(self, history, appointment_pk: int) -> None:
        appointment = Appointment.objects.select_related("referral", "member").get(
            pk=appointment_pk
        )
        if appointment.status != AppointmentStatus.BOOKED:
            return
        appointment_cancel(appointment=appointment, actor=appointment.member, reason="lead_request")
        history.at(
            history.now + timedelta(hours=1), self.close, appointment.referral_id, Outcome.DECLINED
        )

    def attendance(self, history, appointment_pk: int) -> None:
        """After the appointment's time: attended, or a no-show (the offer to book again and,
        for high-value leads, a manual check follow by themselves)."""
        appointment = Appointment.objects.select_related("referral", "member").get(
            pk=appointment_pk
        )
        if appointment.status != AppointmentStatus.BOOKED:
            return
        if appointment.ends_at > history.now:  # moved later meanwhile
            history.at(appointment.ends_at + timedelta(minutes=10), self.attendance, appointment_pk)
            return
        no_show = self.rng.random() < NO_SHOW
        appointment_record_attendance(
            appointment=appointment,
            outcome="no_show" if no_show else "attended",
            actor=appointment.member,
        )
        pk = appointment.referral_id
        referral = self.load(pk)
        if no_show:
            if self.rng.random() < 0.5:
                later = history.now + timedelta(days=self.rng.uniform(1, 4))
                history.at(later, self.rebook, pk, appointment.type_key)
            # Without a new booking within a week, the assignee gives up.
            later = history.now + timedelta(days=self.rng.uniform(6, 9))
            history.at(later, self.give_up, pk, True)
            return
        soon = self.business(referral, history.now, self.rng.uniform(0.1, 2))
        if referral.program.goal == "trial_prescreening" and self.rng.random() < 0.2:
            history.at(soon, self.close, pk, Outcome.NOT_QUALIFIED)
        else:
            history.at(soon, self.close, pk, Outcome.QUALIFIED)

    def rebook(self, history, pk: int, type_key: str) -> None:
        """The lead books again through the link in the reschedule offer."""
        referral = self.load(pk)
        if referral.stage != Stage.IN_PROGRESS:
            return
        slots = self._ahead(
            next_free_slots(referral=referral, type_key=type_key, lead=True), history
        )
        if not slots:
            return
        appointment = appointment_book(
            referral=referral,
            type_key=type_key,
            starts_at=slots[min(len(slots) - 1, self.rng.randrange(0, 8))].starts_at,
            actor=LEAD,
            lead_timezone=referral.lead_timezone,
        )
        self._after_booking(history, appointment)

    def close(self, history, pk: int, outcome: str, reason_code: str = "") -> None:
        referral = self.load(pk)
        if referral.stage not in OPEN:
            return
        if not reason_code and outcome != Outcome.QUALIFIED:
            reason_code = {
                Outcome.DECLINED: "lead_declined",
                Outcome.UNREACHABLE: "retries_exhausted",
                Outcome.NOT_QUALIFIED: (
                    "criteria_not_met"
                    if referral.program.goal == "trial_prescreening"
                    else "specialty_not_targeted"
                ),
            }[outcome]
        for appointment in referral.appointments.filter(status=AppointmentStatus.BOOKED):
            appointment_cancel(
                appointment=appointment, actor=referral.assigned_to, reason="referral_closed"
            )
        referral_close(
            referral=self.load(pk),
            outcome=outcome,
            actor=referral.assigned_to or "system:demo",
            reason_code=reason_code,
        )

    def withdraw(self, history, pk: int) -> None:
        """The lead tells the advisor they no longer want to be contacted."""
        referral = self.load(pk)
        if referral.stage not in OPEN:
            return
        consent_withdraw(
            referral=referral, actor=referral.assigned_to, reason=WithdrawalReason.LEAD_REQUEST
        )

    def review(self, history, pk: int) -> None:
        """The medical reviewer decides: most are approved, some rejected as out of scope."""
        referral = self.load(pk)
        reviewer = self.users["reviewer"]
        for review in referral.reviews.filter(state=ReviewState.PENDING):
            if self.rng.random() < 0.08:
                review_reject(review=review, reviewer=reviewer, reason="Outside the program scope.")
                return
            review_approve(review=review, reviewer=reviewer, note="Reviewed; response may go.")
        referral = self.load(pk)
        if referral.stage == Stage.QUEUED:
            self.plan_first_response(history, referral)

    def reroute(self, history, pk: int, queue: str, reason: str) -> None:
        referral = self.load(pk)
        if referral.stage not in (Stage.QUEUED, Stage.IN_PROGRESS):
            return
        referral_reroute(referral=referral, queue=queue, reason=reason, actor=self.users["agent"])
        referral = self.load(pk)
        if referral.stage == Stage.QUEUED:
            self.plan_first_response(history, referral)

    # --- drug safety ---------------------------------------------------------------------

    def notice_acknowledge(self, history, notice_pk: int, triage: bool) -> None:
        """The officer works a notice in one sitting: acknowledges it and triages it within the
        hour (one that would not be triaged before the end is left unseen, for the officer)."""
        notice = QueueNotice.objects.select_related("referral", "queue").get(pk=notice_pk)
        later = history.now + timedelta(minutes=self.rng.uniform(10, 60))
        if not triage or later > history.end:
            return
        if notice.closed_at is not None or notice.acknowledged_at is not None:
            return
        notice_acknowledge(notice=notice, user=self.users["safety"])
        history.at(later, self.notice_triage, notice_pk)

    def notice_triage(self, history, notice_pk: int) -> None:
        notice = QueueNotice.objects.select_related("referral", "queue").get(pk=notice_pk)
        if notice.closed_at is not None:
            return
        roll = self.rng.random()
        decision = (
            TriageDecision.NOT_AE
            if roll < 0.55
            else TriageDecision.AE_NON_SERIOUS
            if roll < 0.9
            else TriageDecision.AE_SERIOUS
        )
        case_id = "" if decision == TriageDecision.NOT_AE else f"MBX-SAF-{notice_pk:05d}"
        notice_triage(notice=notice, user=self.users["safety"], decision=decision, case_id=case_id)
