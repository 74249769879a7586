"""Follow-up that never forgets: the acknowledgement, the retry cadence, closing as unreachable,
and the SLA's warning, breach and escalation — all as timers on ``next_action_at``.

``followup_start`` runs in the routing transaction of a new or completed referral: it schedules
the referrer's acknowledgement and arms the referral's timers (unique per referral, kind and
attempt, so running it again only re-arms the SLA timers to the current due time). The worker
claims due timers (``timers_claim``: a conditional UPDATE with a lease) and fires each once
(``timer_fire``), deciding *then* whether it still applies: a lead already reached, a closed
referral or a first response already given cancel it; an SLA clock that moved re-arms it.

Contact attempts follow the program's ``followup.retry`` (attempts at ``cadence_days`` from the
first, then closing after ``window_days``). In ``automatic`` mode an attempt sends the
request type's approved template on the best channel the lead allows (the preferred contact,
falling back to another consented channel when one bounced or is refused); a lead who prefers a
call gets a call task. In ``agent`` mode the assignee is told the attempt is due. When the
window ends without reaching the lead, the referral closes ``unreachable`` /
``retries_exhausted`` through ``referral_close`` — unless fewer attempts than promised were
made, when a person is asked to check instead (a referral nobody tried is never closed as
unreachable).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.audit.services import Actor, audit_record
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.outreach.choices import (
    Audience,
    MessagePurpose,
    TimerKind,
    TimerState,
)
from refdesk.outreach.models import Message, Timer
from refdesk.programs.conditions import evaluate
from refdesk.programs.engine.facts import fact_mapping
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewState
from refdesk.routing.facts import referral_facts
from refdesk.routing.models import Review
from refdesk.workflow.checks import manual_check_open, queue_leads
from refdesk.workflow.claims import claim_due
from refdesk.workflow.closing import referral_close
from refdesk.workflow.messages import (
    SYSTEM,
    lead_channels,
    message_check,
    message_schedule,
)
from refdesk.workflow.models import ManualCheck, NotificationKind
from refdesk.workflow.notifications import SLA_WARNING, notify
from refdesk.workflow.pending import followup_release

logger = logging.getLogger(__name__)

SLA_KINDS = (TimerKind.SLA_WARNING, TimerKind.SLA_BREACH, TimerKind.SLA_ESCALATION)
WAITING_STAGES = (Stage.RECEIVED, Stage.NEEDS_INFO)


def _sla_target(kind: str, referral: Referral, definition: ProgramDefinition):
    due = referral.first_response_due_at
    if due is None:
        return None
    if kind == TimerKind.SLA_WARNING:
        return due - SLA_WARNING
    if kind == TimerKind.SLA_BREACH:
        return due
    escalation = definition.sla.escalation
    if escalation is None:
        return None
    return due + timedelta(hours=escalation.after_breach_hours)


def followup_start(
    *, referral: Referral, actor: Actor, now: datetime | None = None, fresh: bool = False
) -> None:
    """Schedule the acknowledgement and arm the timers of a routed referral (see the module
    doc); in the caller's transaction. Closed or duplicate referrals get nothing. ``fresh``:
    a referral just submitted, with nothing armed yet (intake saves the look-ups: two
    statements in all, the message and the timers)."""
    if referral.stage == Stage.CLOSED or referral.duplicate_of_id:
        return
    now = now or timezone.now()
    definition = version_definition(referral.program_version)
    followup = definition.followup
    if referral.stage in WAITING_STAGES:
        # The referrer owes information (they were asked for it): the acknowledgement and the
        # lead's follow-up start once the referral is complete.
        return
    if not fresh:
        followup_release(referral_id=referral.pk, reason="waiting_on_referrer", now=now)
    ack = followup.acknowledge_referrer
    if (
        ack is not None
        and referral.referrer.email
        and (
            fresh
            or not Message.objects.filter(
                referral=referral, purpose=MessagePurpose.ACKNOWLEDGEMENT
            ).exists()
        )
    ):
        message_schedule(
            referral=referral,
            template_key=ack.template,
            purpose=MessagePurpose.ACKNOWLEDGEMENT,
            audience=Audience.REFERRER,
            channel="email",
            actor=actor,
            due_at=now,
        )
    retry = followup.retry
    cadence = retry.cadence_days or tuple(
        round(i * retry.window_days / retry.attempts) for i in range(retry.attempts)
    )
    timers = [
        Timer(
            referral=referral,
            kind=TimerKind.ATTEMPT,
            attempt=number,
            next_action_at=now + timedelta(days=day),
            created_at=now,
        )
        for number, day in enumerate(cadence, start=1)
    ]
    timers.append(
        Timer(
            referral=referral,
            kind=TimerKind.CLOSE_UNREACHABLE,
            next_action_at=now + timedelta(days=retry.window_days),
            created_at=now,
        )
    )
    for kind in SLA_KINDS:
        target = _sla_target(kind, referral, definition)
        if target is not None:
            timers.append(
                Timer(referral=referral, kind=kind, next_action_at=target, created_at=now)
            )
    Timer.objects.bulk_create(timers, ignore_conflicts=True)
    if fresh:
        return
    # Already armed (a completed referral routed again): follow the SLA clock where it moved.
    for kind in SLA_KINDS:
        target = _sla_target(kind, referral, definition)
        Timer.objects.filter(referral=referral, kind=kind, state=TimerState.PENDING).update(
            next_action_at=target
        )


# --- the worker's side -----------------------------------------------------------------------


def timers_claim(*, now: datetime, limit: int = 50) -> list[tuple[int, datetime]]:
    """Claim up to ``limit`` due timers (pending, or running past a lapsed lease): ``claim_due``.
    Returns (id, lease) pairs."""
    due = Q(state=TimerState.PENDING) | Q(state=TimerState.RUNNING, lease_until__lt=now)

    def mark(ids: list[int], lease: datetime) -> None:
        Timer.objects.filter(pk__in=ids).update(state=TimerState.RUNNING, lease_until=lease)

    return claim_due(Timer, due=due, now=now, limit=limit, mark=mark)


def timer_fire(timer_id: int, *, lease: datetime, now: datetime | None = None) -> str:
    """Act on one claimed timer, once: in one transaction, decide whether it still applies,
    act through the workflow's services, and record the result. Returns the result code."""
    now = now or timezone.now()
    with transaction.atomic():
        timer = (
            Timer.objects.select_for_update()
            .filter(pk=timer_id, lease_until=lease, state=TimerState.RUNNING)
            .first()
        )
        if timer is None:
            return "lost"
        referral = Referral.objects.select_related(
            "program", "program_version", "referrer", "queue__team", "assigned_to"
        ).get(pk=timer.referral_id)
        definition = version_definition(referral.program_version)
        state, result, next_at = _fire(timer, referral, definition, now)
        timer.state, timer.result = state, result
        timer.next_action_at = next_at if state == TimerState.PENDING else None
        timer.lease_until = None
        timer.done_at = now if state in (TimerState.DONE, TimerState.CANCELLED) else None
        timer.save(update_fields=["state", "result", "next_action_at", "lease_until", "done_at"])
    return result


def _fire(timer: Timer, referral: Referral, definition: ProgramDefinition, now: datetime):
    """(state, result, next_action_at) for a timer; acts as a side effect."""
    if referral.stage == Stage.CLOSED:
        return TimerState.CANCELLED, "referral_closed", None
    if timer.kind in SLA_KINDS:
        return _fire_sla(timer, referral, definition, now)
    if referral.lead_reached_at is not None:
        return TimerState.CANCELLED, "lead_reached", None
    if referral.stage == Stage.SCHEDULED:
        return TimerState.CANCELLED, "scheduled", None
    # Parked until the event that ends the wait re-dues it (followup_release): information
    # supplied (followup_start runs again) or the review decided (review_approve).
    if referral.stage in WAITING_STAGES:
        return TimerState.PENDING, "waiting_on_referrer", None
    if _review_pending(referral):
        return TimerState.PENDING, "review_pending", None
    if timer.kind == TimerKind.ATTEMPT:
        return _fire_attempt(timer, referral, definition, now)
    return _fire_close(timer, referral, definition, now)


def _first_template(referral: Referral, definition: ProgramDefinition) -> str | None:
    first = definition.followup.first_outreach
    return first.by_request_type.get(referral.request_type) or first.default_template


def _fire_attempt(timer, referral, definition, now):
    first = definition.followup.first_outreach
    number = timer.attempt
    later_due = Timer.objects.filter(
        referral=referral,
        kind=TimerKind.ATTEMPT,
        attempt__gt=number,
        state=TimerState.PENDING,
        next_action_at__lte=now,
    ).exists()
    if later_due:
        # Caught up after a pause (the worker was down): only the latest due attempt is made,
        # never two messages at once.
        return TimerState.CANCELLED, "superseded", None
    if first.mode == "agent" or referral.preferred_contact not in ("email", "sms"):
        # A person makes this attempt (agent mode, or the lead prefers a call): tell them.
        if referral.assigned_to_id is None:
            return TimerState.DONE, "no_assignee", None
        if number > 1 or first.mode != "agent":
            notify(
                users=[referral.assigned_to],
                kind=NotificationKind.ATTEMPT_DUE,
                referral=referral,
                subject=f"Attempt {number} of {definition.followup.retry.attempts}",
                actor=SYSTEM,
                at=now,
            )
        audit_record(
            actor=SYSTEM,
            action="followup.attempt_due",
            subject=referral,
            changes={"attempt": (None, number), "by": (None, "person")},
        )
        return TimerState.DONE, "person_notified", None
    template = _first_template(referral, definition)
    channels = lead_channels(referral)
    chosen = channels[0] if channels else referral.preferred_contact
    for channel in channels:
        check = message_check(
            referral=referral,
            template_key=template,
            channel=channel,
            audience=Audience.LEAD,
            now=now,
            definition=definition,
        )
        if check.allowed or check.held:
            chosen = channel
            break
    message_schedule(
        referral=referral,
        template_key=template,
        purpose=MessagePurpose.FIRST_OUTREACH if number == 1 else MessagePurpose.RETRY,
        audience=Audience.LEAD,
        channel=chosen,
        actor=SYSTEM,
        due_at=now,
        attempt=number,
    )
    return TimerState.DONE, "message_scheduled", None


def _review_pending(referral: Referral) -> bool:
    return Review.objects.filter(referral=referral, state=ReviewState.PENDING).exists()


def is_high_value(referral: Referral, definition: ProgramDefinition) -> bool:
    """Does the program's ``followup.high_value`` rule name this lead (evaluated like routing
    conditions, on the referral's facts and prescreen outcome)?"""
    rule = definition.followup.high_value
    if not rule:
        return False
    mapping = fact_mapping(
        definition,
        referral_facts(referral, definition=definition),
        prescreen_outcome=referral.prescreen_outcome or None,
    )
    return evaluate(
        rule, mapping, term_lists={"adverse_event_terms": definition.adverse_event_terms}
    )


def _fire_close(timer, referral, definition, now):
    if is_high_value(referral, definition):
        # High-value leads get a person's check where others get automation only.
        manual_check_open(
            referral=referral,
            reason=ManualCheck.Reason.RETRIES_EXHAUSTED,
            subject="High-value lead: retry window over",
            actor=SYSTEM,
            now=now,
            changes={"attempts": (None, referral.lead_attempts), "high_value": (None, True)},
            why="a high-value lead is checked by a person, never closed automatically",
        )
        return TimerState.DONE, "high_value_check", None
    promised = definition.followup.retry.attempts
    if referral.lead_attempts < promised:
        # Fewer attempts than the program promises were made: a person decides, not the timer.
        manual_check_open(
            referral=referral,
            reason=ManualCheck.Reason.RETRIES_EXHAUSTED,
            subject=f"{referral.lead_attempts} of {promised} attempts made",
            actor=SYSTEM,
            now=now,
            changes={"attempts": (None, referral.lead_attempts), "promised": (None, promised)},
            why="the retry window ended with fewer attempts than the program promises",
        )
        return TimerState.DONE, "manual_check", None
    referral_close(
        referral=referral,
        outcome=Outcome.UNREACHABLE,
        reason_code="retries_exhausted",
        actor=SYSTEM,
    )
    return TimerState.DONE, "closed_unreachable", None


def _program_owners(referral: Referral) -> list[User]:
    return list(
        User.objects.filter(
            memberships__team_id=referral.program.owner_team_id,
            role="program_owner",
            is_active=True,
        )
    )


# SLA timers that tell the assignee: (notification, audit action, result).
SLA_TELLS_ASSIGNEE = {
    TimerKind.SLA_WARNING: (NotificationKind.SLA_WARNING, "referral.sla_warning", "warned"),
    TimerKind.SLA_BREACH: (NotificationKind.SLA_BREACHED, "referral.sla_breached", "breached"),
}


def _fire_sla(timer, referral, definition, now):
    if referral.first_responded_at is not None:
        return TimerState.CANCELLED, "responded", None
    target = _sla_target(timer.kind, referral, definition)
    if target is None:
        # Paused (the referrer owes information) or no escalation: re-armed on resume.
        return TimerState.PENDING, "paused", None
    if target > now + timedelta(seconds=1):
        return TimerState.PENDING, "rearmed", target  # the clock moved later
    due = referral.first_response_due_at
    if timer.kind in SLA_TELLS_ASSIGNEE:
        notice, action, result = SLA_TELLS_ASSIGNEE[timer.kind]
        if referral.assigned_to_id:
            notify(
                users=[referral.assigned_to],
                kind=notice,
                referral=referral,
                actor=SYSTEM,
                at=now,
            )
        audit_record(
            actor=SYSTEM,
            action=action,
            subject=referral,
            changes={"due_at": (None, due.isoformat())},
        )
        return TimerState.DONE, result, None
    escalation = definition.sla.escalation
    recipients = queue_leads(referral)
    if escalation.notify_owner:
        recipients += _program_owners(referral)
    notify(
        users=recipients,
        kind=NotificationKind.ESCALATED,
        referral=referral,
        subject=f"First response overdue since {due:%Y-%m-%d %H:%M} UTC",
        actor=SYSTEM,
        at=now,
    )
    audit_record(
        actor=SYSTEM,
        action="referral.sla_escalated",
        subject=referral,
        changes={
            "due_at": (None, due.isoformat()),
            "notified": (None, sorted({user.get_username() for user in recipients})),
        },
    )
    _email_escalation(referral, recipients, due)
    return TimerState.DONE, "escalated", None


def _email_escalation(referral: Referral, recipients: list[User], due: datetime) -> None:
    """Email the people told of an escalation once the transaction commits; the mail names the
    referral by reference and links to it, never any patient data."""
    addresses = sorted({user.email for user in recipients if user.email})
    if not addresses:
        return
    subject = f"Escalation: referral {referral.reference} first response overdue"
    body = (
        f"The first response to referral {referral.reference} ({referral.program.name}) was due "
        f"{due:%Y-%m-%d %H:%M} UTC and has not been given.\n\n"
        f"Open it: {settings.REFDESK_BASE_URL}/desk/referrals/{referral.public_id}\n"
    )
    transaction.on_commit(lambda: send_mail(subject, body, None, addresses), robust=True)


def timers_fire_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """Claim and fire one batch of due timers; returns how many were claimed."""
    now = now or timezone.now()
    claimed = timers_claim(now=now, limit=limit)
    for pk, lease in claimed:
        try:
            timer_fire(pk, lease=lease, now=now)
        except Exception:
            # One timer's failure must not stop the batch; its lease lapses and it is retried.
            logger.exception("timer %s failed; it will be retried when its lease lapses", pk)
    return len(claimed)
