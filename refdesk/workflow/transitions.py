"""The referral's lifecycle: one table of actions and one guarded transition function.

Every change to a referral's stage, outcome, queue or assignee goes through
``referral_transition``:

1. ``ACTIONS`` says from which stages an action may start and to which stages it may lead;
2. one conditional ``UPDATE ... WHERE stage = <the stage read>`` (plus any condition the action
   adds, e.g. "still unassigned") applies the change: a concurrent change makes it fail instead
   of overwrite, and the loser gets a 409 naming the stage the referral is in now;
3. the audit event is written in the same transaction (the caller's, or its own).

The same table answers "which actions may this user take on this referral now?"
(``actions_available``): the console renders that list and never repeats a guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from refdesk.access import policy
from refdesk.audit.services import Actor, audit_record
from refdesk.core import sql
from refdesk.core.errors import InvalidTransition
from refdesk.intake.choices import OPEN_STAGES, WORK_STAGES, Stage
from refdesk.intake.models import Referral, ReferralNote
from refdesk.intake.notes import note_changes
from refdesk.workflow.pending import followup_stop


@dataclass(frozen=True)
class Situation:
    """What besides the stage decides whether an action fits a referral now (read once per
    page, or by the service about to act)."""

    stage: str
    assigned_to_id: int | None = None
    user_id: int | None = None  # who would act
    in_queue: bool = False
    review_pending: bool = False
    is_trial: bool = False
    consent_granted: bool = False
    schedules: bool = False  # the program books appointments
    appointment_started: bool = False  # the booked appointment's start has passed


@dataclass(frozen=True)
class Action:
    """One thing that can happen to a referral.

    ``label``: the action as a gerund, for messages. ``sources``: stages it may start from.
    ``targets``: stages it may lead to; ``stays``: it may also leave the stage as it is.
    ``audit``: the event it writes. ``staff``: offered in the console (``policy.ACTION_ROLES``
    says to whom). ``when``: what else must hold to offer it.
    """

    label: str
    sources: frozenset[str]
    targets: frozenset[str] = frozenset()
    stays: bool = False
    audit: str = ""
    staff: bool = False
    when: Callable[[Situation], bool] | None = None

    def allows(self, current: str, target: str) -> bool:
        return current in self.sources and (
            target in self.targets or (self.stays and target == current)
        )


def _unassigned_or_mine(s: Situation) -> bool:
    return s.assigned_to_id in (None, s.user_id)


def _unassigned(s: Situation) -> bool:
    return s.assigned_to_id is None


def _review_pending(s: Situation) -> bool:
    return s.review_pending


def _no_review_pending(s: Situation) -> bool:
    return not s.review_pending


def _in_queue(s: Situation) -> bool:
    return s.in_queue


def _trial(s: Situation) -> bool:
    return s.is_trial


def _consent_granted(s: Situation) -> bool:
    return s.consent_granted


def _schedules(s: Situation) -> bool:
    return s.schedules


def _appointment_started(s: Situation) -> bool:
    return s.appointment_started


def _(*stages: str) -> frozenset[str]:
    return frozenset(stages)


CLOSED = _(Stage.CLOSED)
# Judging the lead (qualify, disqualify) waits for every pending review.
JUDGE_STAGES = OPEN_STAGES - {Stage.AWAITING_REVIEW}

ACTIONS: dict[str, Action] = {
    # --- refdesk's own moves ------------------------------------------------------------------
    "route": Action(
        "routing",
        _(Stage.RECEIVED),
        _(Stage.QUEUED, Stage.AWAITING_REVIEW, Stage.NEEDS_INFO),
        audit="referral.routed",
    ),
    "reevaluate": Action(
        "re-evaluating",
        _(Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED),
        _(Stage.AWAITING_REVIEW),
        stays=True,
        audit="referral.reevaluated",
    ),
    "supply_info": Action(
        "supplying information",
        _(Stage.NEEDS_INFO),
        _(Stage.RECEIVED),
        stays=True,  # some items supplied, others still missing
        audit="referral.info_supplied",
    ),
    "review_cleared": Action(
        "entering the queue after review",
        _(Stage.AWAITING_REVIEW),
        _(Stage.QUEUED),
        audit="referral.stage_changed",
    ),
    "update_answers": Action(
        "updating answers",
        _(Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED),
        stays=True,
        audit="referral.answers_updated",
    ),
    # --- what staff do (the console offers these) ---------------------------------------------
    "claim": Action(
        "claiming",
        _(Stage.QUEUED),
        _(Stage.IN_PROGRESS),
        audit="referral.claimed",
        staff=True,
        when=_unassigned_or_mine,
    ),
    "assign": Action(
        "assigning to the next available member",
        _(Stage.QUEUED),
        stays=True,
        audit="referral.assigned",
        staff=True,
        when=_unassigned,
    ),
    # Not awaiting_review: its decision assigns afresh. Not received or closed: no work.
    "assign_to": Action(
        "assigning to a team member",
        _(Stage.QUEUED, Stage.NEEDS_INFO, Stage.IN_PROGRESS, Stage.SCHEDULED),
        stays=True,
        audit="referral.assigned",
        staff=True,
        when=_in_queue,
    ),
    "log_contact": Action(
        "logging a contact attempt",
        _(Stage.NEEDS_INFO, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED),
        stays=True,
        staff=True,
    ),
    # A message from an approved template; the send check (workflow.messages) decides the rest.
    "send_message": Action(
        "sending a message to the lead",
        _(Stage.NEEDS_INFO, Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED),
        stays=True,
        staff=True,
    ),
    # Appointments (workflow.booking): booking moves the referral to scheduled; cancelling or
    # recording attendance ends that and the work goes on (qualify, disqualify, book again).
    "schedule": Action(
        "booking an appointment",
        _(Stage.QUEUED, Stage.IN_PROGRESS),
        _(Stage.SCHEDULED),
        audit="referral.scheduled",
        staff=True,
        when=_schedules,
    ),
    "reschedule": Action(
        "rescheduling the appointment", _(Stage.SCHEDULED), stays=True, staff=True
    ),
    "cancel_appointment": Action(
        "cancelling the appointment",
        _(Stage.SCHEDULED),
        _(Stage.IN_PROGRESS),
        audit="referral.unscheduled",
        staff=True,
    ),
    "record_attendance": Action(
        "recording attendance",
        _(Stage.SCHEDULED),
        _(Stage.IN_PROGRESS),
        audit="referral.unscheduled",
        staff=True,
        when=_appointment_started,
    ),
    "request_info": Action(
        "requesting information from the referrer",
        _(Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS),
        _(Stage.NEEDS_INFO),
        audit="referral.info_request_queued",
        staff=True,
    ),
    "record_prescreen": Action(
        "recording the prescreen outcome",
        WORK_STAGES,
        stays=True,
        audit="referral.prescreen_recorded",
        staff=True,
        when=_trial,
    ),
    "qualify": Action(
        "qualifying",
        JUDGE_STAGES,
        CLOSED,
        audit="referral.closed",
        staff=True,
        when=_no_review_pending,
    ),
    "disqualify": Action(
        "disqualifying",
        JUDGE_STAGES,
        CLOSED,
        audit="referral.closed",
        staff=True,
        when=_no_review_pending,
    ),
    # Other outcomes (declined, withdrawn, duplicate, entered in error) whatever the reviews say.
    "close": Action("closing", OPEN_STAGES, CLOSED, audit="referral.closed", staff=True),
    # A booked appointment is cancelled before a move; closed work stays where it ended.
    "reroute": Action(
        "re-routing",
        _(Stage.NEEDS_INFO, Stage.AWAITING_REVIEW, Stage.QUEUED, Stage.IN_PROGRESS),
        _(Stage.QUEUED),  # claimed work goes back to queued: the new team claims it afresh
        stays=True,
        audit="referral.rerouted",
        staff=True,
        when=_in_queue,
    ),
    "approve_review": Action(
        "approving the review",
        WORK_STAGES,
        stays=True,  # the referral itself moves by review_cleared once no review is pending
        staff=True,
        when=_review_pending,
    ),
    "reject_review": Action(
        "rejecting the review",
        WORK_STAGES,
        CLOSED,
        audit="referral.closed",
        staff=True,
        when=_review_pending,
    ),
    "record_consent": Action("recording consent", WORK_STAGES, stays=True, staff=True),
    # Withdrawing every purpose closes open work as withdrawn; after closing it still stops
    # every later contact.
    "withdraw_consent": Action(
        "recording a consent withdrawal",
        WORK_STAGES | CLOSED,
        CLOSED,
        stays=True,
        audit="referral.closed",
        staff=True,
        when=_consent_granted,
    ),
}
STAFF_ACTIONS = tuple(name for name, action in ACTIONS.items() if action.staff)


def _stage_words(stage: str) -> str:
    return Stage(stage).label.lower() if stage in Stage.values else stage


def action_guard(referral: Referral, action: str, *, to: str | None = None) -> Action:
    """The action's table entry, or ``InvalidTransition`` (409) naming the referral's stage."""
    spec = ACTIONS[action]
    target = to or referral.stage
    if not spec.allows(referral.stage, target):
        if referral.stage not in spec.sources:
            message = (
                f"{spec.label.capitalize()} is not possible while the referral is "
                f"{_stage_words(referral.stage)}."
            )
        else:
            message = (
                f"{spec.label.capitalize()} cannot move a referral that is "
                f"{_stage_words(referral.stage)} to {_stage_words(target)}."
            )
        raise InvalidTransition(message, code="invalid_transition", extra={"stage": referral.stage})
    return spec


def _shown(value: Any) -> Any:
    """A referral field's value as the audit trail records it (codes and names, no objects)."""
    if isinstance(value, models.Model):
        return getattr(value, "slug", None) or getattr(value, "username", None) or str(value.pk)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return list(value)
    return None if value == "" else value


def _current(referral: Referral, field: str) -> Any:
    descriptor = Referral._meta.get_field(field)
    if descriptor.is_relation and getattr(referral, descriptor.attname) is None:
        return None
    return getattr(referral, field)


def referral_transition(
    referral: Referral,
    *,
    action: str,
    actor: Actor,
    to: str | None = None,
    values: Mapping[str, Any] | None = None,
    where: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
    reason: str = "",
    note: ReferralNote | None = None,
    sensitive_fields: Iterable[str] = (),
    now: datetime | None = None,
) -> Referral:
    """Apply ``action`` to the referral: move it to ``to`` (default: stay) and set ``values``.

    Refused by the table, or beaten by a concurrent change (the row no longer has the stage read,
    or no longer has the ``where`` values: ``{field: value}``, None for NULL):
    ``InvalidTransition`` (409) naming the current stage, nothing written.
    Audited as the action's event with every changed field (old -> new), ``changes`` (facts
    that are not columns: the rule, the version), ``reason`` (refdesk's own words, never text a
    person typed: that is ``note``) and the note's id and fingerprint. Updates ``referral``.

    Runs in the caller's transaction, or its own. It opens no savepoint (intake's hot path):
    a refused or lost transition raises before anything is written, so the caller's
    transaction stays usable and a caller may catch it (automatic assignment does).
    """
    if not connection.in_atomic_block:
        with transaction.atomic():
            return referral_transition(
                referral,
                action=action,
                actor=actor,
                to=to,
                values=values,
                where=where,
                changes=changes,
                reason=reason,
                note=note,
                sensitive_fields=sensitive_fields,
                now=now,
            )
    spec = action_guard(referral, action, to=to)
    old_stage = referral.stage
    values = dict(values or {})
    now = now or timezone.now()
    if to is not None and to != old_stage:
        values["stage"] = to
    recorded = {}
    for field, new in values.items():
        old = _current(referral, field)
        if _shown(old) != _shown(new):
            recorded[field] = (_shown(old), _shown(new))
    # SQL built once per shape (refdesk.core.sql): the ORM's update() compiles every call,
    # 135 µs more on SQLite and 203 µs on PostgreSQL (bench/sql_paths.py), and every intake
    # runs one or two of these.
    # When the stage changes, so does how long it has stood: reports show where work stalls.
    moved = {"stage_changed_at": now} if "stage" in values else {}
    changed = sql.update(
        referral,
        {**values, **moved, "updated_at": now},
        where={"stage": old_stage, **(where or {})},
    )
    if changed != 1:
        raise _lost_race(referral, spec)
    audit_record(
        actor=actor,
        action=spec.audit,
        subject=referral,
        changes={**recorded, **(changes or {}), **note_changes(note)},
        reason=reason,
        sensitive_fields=sensitive_fields,
    )
    for field, value in {**values, **moved}.items():
        setattr(referral, field, value)
    referral.updated_at = now
    if to == Stage.CLOSED and old_stage != Stage.CLOSED:
        # Closed work is followed up no more: timers cancelled, unsent lead messages refused.
        followup_stop(referral_id=referral.pk, reason="referral_closed", now=now)
    return referral


def _lost_race(referral: Referral, spec: Action) -> InvalidTransition:
    current = Referral.objects.filter(pk=referral.pk).values_list("stage", flat=True).first()
    if current is None or current == referral.stage:
        now = f"it is still {_stage_words(referral.stage)}, but someone else acted on it"
    else:
        now = f"it is {_stage_words(current)} now"
    return InvalidTransition(
        f"The referral changed meanwhile: {now}. Reload it before {spec.label}.",
        code="changed_meanwhile",
        extra={"stage": current or referral.stage},
    )


def action_possible(referral: Referral, action: str) -> bool:
    """Can ``action`` start from the referral's stage at all (whoever acts)? For pages that
    offer an action to someone outside the staff (a referrer's completion link)."""
    return referral.stage in ACTIONS[action].sources


def action_available(user, referral: Referral, action: str, situation: Situation) -> bool:
    """May ``user`` take the staff action ``action`` on ``referral`` now: the policy gives it to
    the role on this referral, the table allows it from its stage, and its condition holds."""
    spec = ACTIONS[action]
    if not spec.staff or situation.stage not in spec.sources:
        return False
    if spec.when is not None and not spec.when(situation):
        return False
    return policy.has_perm(user, f"referral.{action}", referral)


def actions_available(user, referral: Referral, situation: Situation) -> frozenset[str]:
    """Every staff action ``user`` may take on ``referral`` now (``action_available``)."""
    return frozenset(
        name for name in STAFF_ACTIONS if action_available(user, referral, name, situation)
    )
