"""One timeline per referral, read from the audit trail.

Every service audits with the referral as subject (submission, consent, routing decisions,
re-routes, reviews, notices, claims, contact attempts, stage changes), so the trail is the
single source: nothing is merged from other tables and nothing can be missing from one view
but present in another. Entries are words built from a whitelist of non-patient fields; a
change to patient fields reads "lead details changed", never the values. What people wrote
(a re-route reason, a contact note) is stored encrypted with the referral, never in the trail;
the event refers to it by id, and it is shown only to roles that see patient data, because
people may type anything there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils.dateparse import parse_datetime

from refdesk.audit.models import AuditEvent
from refdesk.desk.timeline_appointments import (
    MESSAGE_PURPOSES,
    appointment_detail,
    appointment_words,
    local_words,
    message_words,
)
from refdesk.intake.choices import Outcome, PrescreenOutcome, Stage, reason_label
from refdesk.intake.labels import CHANNEL_LABELS
from refdesk.intake.models import Referral
from refdesk.intake.notes import notes_by_id
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewKind, TriageDecision
from refdesk.routing.models import Queue
from refdesk.workflow.callbacks import CALL_TIMES
from refdesk.workflow.contact import OUTCOME_LABELS, PARTY_LABELS, REFUSAL_WORDS
from refdesk.workflow.messages import SEND_REFUSAL_WORDS

# action -> sentence; {field} placeholders are filled from SAFE_FIELDS' new values.
WORDS: dict[str, str] = {
    "referral.submitted": "Referral submitted",
    "referral.duplicate_received": "The same lead was referred again ({duplicate})",
    "consent.recorded": "Consent recorded",
    "consent.withdrawn": "Consent withdrawn",
    "consent.expired": "Consent expired",
    "referral.routed": "Routed to {queue}",
    "referral.reevaluated": "Routing re-evaluated",
    "referral.rerouted": "Re-routed to {queue}",
    "referral.assigned": "Assigned to {assigned_to}",
    "referral.claimed": "Claimed by {assigned_to}",
    "referral.stage_changed": "Stage changed to {stage}",
    "referral.closed": "Closed as {outcome}",
    "referral.prescreen_recorded": "Prescreen outcome recorded: {prescreen_outcome}",
    "referral.answers_updated": "Lead details changed",
    "referral.updated": "Referral updated",
    "referral.info_request_queued": "Information requested from the referrer",
    "referral.info_requested": "Completion link sent to the referrer",
    "referral.info_supplied": "The referrer supplied missing information",
    "referral.contact_attempted": "Contact attempt ({party}, {channel}): {outcome}",
    "review.requested": "{kind} requested",
    "review.approved": "{kind} approved",
    "review.rejected": "{kind} rejected",
    "notice.sent": "Notice sent to {queue}",
    "notice.acknowledged": "Drug-safety notice acknowledged ({queue})",
    "notice.triaged": "Drug-safety triage: {decision}",
    # Follow-up (workflow.messages, workflow.followup): which template went to whom, and why
    # a message waited or was refused; the recipient's address is never in the trail.
    "message.scheduled": "Message to the {audience} scheduled: {template} ({channel})",
    "message.sent": "Message sent to the {audience}: {template} ({channel})",
    "message.held": "Message to the {audience} held: {reason}",
    "message.refused": "Message to the {audience} refused: {reason}",
    "message.retry_scheduled": "Message could not be sent ({reason}); trying again",
    "message.failed": "Message failed: {reason}",
    "message.delivered": "Message delivered ({channel})",
    "message.bounced": "Message bounced ({channel})",
    "message.cancelled": "Pending message cancelled: {reason}",
    "followup.attempt_due": "Contact attempt {attempt} due: the assignee was told",
    "followup.manual_check": "Retry window over ({attempts} attempts made): a person checks it",
    "followup.manual_check_done": "Manual check done",
    "referral.sla_warning": "First response due soon: the assignee was warned",
    "referral.sla_breached": "First response overdue (SLA breached)",
    "referral.sla_escalated": "Escalated: first response overdue",
    "referral.callback_requested": "The lead asked for a call back ({when})",
}
# Changes whose values are codes or staff names, safe to print for every role.
SAFE_FIELDS = frozenset(
    {
        "queue",
        "assigned_to",
        "stage",
        "outcome",
        "outcome_reason",
        "prescreen_outcome",
        "kind",
        "channel",
        "party",
        "duplicate",
        "decision",
        "rule",
        "version",
        "audience",
        "template",
        "purpose",
        "attempt",
        "attempts",
        "promised",
        "reason",
        "when",
    }
)
# Every other change field is treated as patient data ("lead details changed").
NON_PATIENT_FIELDS = SAFE_FIELDS | {
    "flags",
    "missing",
    "supplied",
    "items",
    "review",
    "state",
    "note",
    "granted",
    "purposes",
    "channels",
    "method",
    "text_version",
    "text_hash",
    "referrer",
    "to",
    "received_at",
    "reason",
    "suggested_queue",
    "routed_at",
    "first_response_due_at",
    "first_responded_at",
    "first_response_seconds",
    "stage_changed_at",
    "sla_paused_at",
    "sla_paused_seconds",
    "closed_at",
    "event",
    "expires_at",
    "withdrawn_purposes",
    "withdrawn_channels",
    "notice",
    "acknowledged_at",
    "case_id",
    "closed",
    "message",
    "template_version",
    "materials",
    "due_at",
    "tries",
    "resent_after_interruption",
    "notified",
    "by",
    "status",
    "high_value",
    # Appointments (workflow.booking, workflow.attendance) and manual checks (workflow.checks):
    # the appointment's id, type key, start, staff member and status; the check's reason code.
    "appointment",
    "appointment_type",
    "starts_at",
    "member",
    "sequence",
    "appointment_status",
    "check",
}


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    who: str
    what: str
    detail: str  # the outcome reason in words, and the free text for roles that may see it
    lead_details_changed: bool
    action: str = ""  # the audit action, e.g. "referral.contact_attempted"
    values: dict = field(default_factory=dict)  # its safe codes (SAFE_FIELDS), as stored


# Codes in words: a timeline reads "Closed as Not qualified", never "not_qualified".
_CODE_WORDS = {
    "stage": dict(Stage.choices),
    "outcome": dict(Outcome.choices),
    "prescreen_outcome": dict(PrescreenOutcome.choices),
    "channel": CHANNEL_LABELS,
    "party": {"lead": "lead", "referrer": "referrer"},
    "kind": dict(ReviewKind.choices),
    "decision": dict(TriageDecision.choices),
    "reason": {**REFUSAL_WORDS, **SEND_REFUSAL_WORDS},
    "audience": {"lead": "lead", "referrer": "referrer"},
    "when": {key: value.lower() for key, value in CALL_TIMES.items()},
    "purpose": MESSAGE_PURPOSES,
}
_CONTACT_OUTCOMES = {key: value.lower() for key, value in OUTCOME_LABELS.items()}
assert set(PARTY_LABELS) == set(_CODE_WORDS["party"])


def actor_name(actor: str) -> str:
    """An audit actor label in words for the page: a username, "referrer CODE", "refdesk"."""
    kind, _, name = actor.partition(":")
    if kind == "user":
        return name
    if kind == "referrer":
        return f"referrer {name.split(':')[0]}"
    if kind == "partner":
        return f"partner {name.split(':')[0]}"
    return "refdesk" if kind == "system" else kind


def _safe_values(event: AuditEvent) -> dict:
    return {
        name: change.get("new")
        for name, change in (event.changes or {}).items()
        if name in SAFE_FIELDS and isinstance(change, dict)
    }


def _worded(
    values: dict, action: str, queue_names: dict[str, str], template_names: dict[str, str]
) -> dict:
    words = {}
    for name, value in values.items():
        if not isinstance(value, str):
            words[name] = value
        elif name == "template":
            # "key" or "key v2": the template's name from the program, its version kept.
            key, _, version = value.partition(" v")
            label = template_names.get(key, key)
            words[name] = f"{label} (v{version})" if version else label
        elif name == "outcome" and action == "referral.contact_attempted":
            words[name] = _CONTACT_OUTCOMES.get(value, value)
        elif name == "queue":
            words[name] = queue_names.get(value, value)
        elif name in _CODE_WORDS:
            words[name] = _CODE_WORDS[name].get(value, value)
        else:
            words[name] = value
    return words


def _words(
    event: AuditEvent,
    queue_names: dict[str, str] | None = None,
    template_names: dict[str, str] | None = None,
    type_labels: dict[str, str] | None = None,
) -> tuple[str, bool]:
    values = _worded(_safe_values(event), event.action, queue_names or {}, template_names or {})
    # A submission carries the lead (fingerprinted) as created, not as changed.
    lead_changed = event.action != "referral.submitted" and any(
        field not in NON_PATIENT_FIELDS for field in event.changes or {}
    )
    template = WORDS.get(event.action)
    special = appointment_words(event, type_labels or {}) or message_words(event, values)
    if special:
        text = special
    elif template is None:
        text = event.action.replace(".", " ").replace("_", " ").capitalize()
    else:
        text = template.format_map(_Blank(values))
    if lead_changed and "lead details changed" not in text.lower():
        text = f"{text}; lead details changed"
    text += _clock_words(event.changes or {})
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:], lead_changed


def _clock_words(changes: dict) -> str:
    """The first-response clock stopping (waiting on the referrer) and starting again."""
    paused = changes.get("sla_paused_at")
    if not isinstance(paused, dict):
        return ""
    if paused.get("new"):
        return "; first-response clock paused"
    due = (changes.get("first_response_due_at") or {}).get("new")
    if not isinstance(due, str) or parse_datetime(due) is None:
        return "; first-response clock resumed"
    return f"; first-response clock resumed (due {local_words(due)})"


class _Blank(dict):
    def __missing__(self, key):
        return "—"


def _is_view(action: str) -> bool:
    # Views of patient data are audited too, but they are reads, not things that happened to
    # the referral: the audit trail report lists them; the work timeline leaves them out.
    return action.endswith(".viewed") or action.endswith("_viewed")


def referral_timeline(*, referral: Referral, show_free_text: bool) -> list[TimelineEntry]:
    """The referral's entries, oldest first (one indexed query on subject and seq; one more for
    its notes when the role may read them)."""
    events = AuditEvent.objects.filter(
        subject_type="referral", subject_id=str(referral.public_id)
    ).order_by("seq")
    notes = notes_by_id(referral) if show_free_text else {}
    events = [event for event in events if not _is_view(event.action)]
    known = {referral.queue.slug: referral.queue.name} if referral.queue_id else {}
    queue_names = _queue_names(events, known)
    definition = version_definition(referral.program_version)
    template_names = {key: template.name for key, template in definition.templates.items()}
    kinds = definition.scheduling.appointment_types if definition.scheduling else {}
    type_labels = {key: kind.label for key, kind in kinds.items()}
    entries = []
    for event in events:
        what, lead_changed = _words(event, queue_names, template_names, type_labels)
        changes = event.changes or {}
        reason_code = changes.get("outcome_reason", {})
        code = reason_code.get("new") or "" if isinstance(reason_code, dict) else ""
        detail = reason_label(code) if code else appointment_detail(event)
        note = _note_of(changes, notes)
        if note:
            detail = f"{detail} — {note}" if detail else note
        entries.append(
            TimelineEntry(
                when=event.occurred_at,
                who=actor_name(event.actor),
                what=what,
                detail=detail,
                lead_details_changed=lead_changed,
                action=event.action,
                values=_safe_values(event),
            )
        )
    return entries


def _queue_names(events: list[AuditEvent], known: dict[str, str]) -> dict[str, str]:
    """{slug: name} of the queues the events name: ``known`` ones (the referral's own queue,
    already loaded) and one query for any other."""
    slugs = {
        value
        for event in events
        for key, value in _safe_values(event).items()
        if key == "queue" and isinstance(value, str) and value not in known
    }
    if not slugs:
        return known
    return {**known, **dict(Queue.objects.filter(slug__in=slugs).values_list("slug", "name"))}


def _note_of(changes: dict, notes: dict) -> str:
    """The text of the note an event refers to, if the reader may see it: what a person wrote
    lives encrypted with the referral, the trail holds only its id and fingerprint."""
    reference = (changes.get("note") or {}).get("new")
    if not isinstance(reference, dict):
        return ""
    note = notes.get(reference.get("id"))
    return note.text if note is not None else ""
