"""What the referral page shows: its context (the record as the role may see it, in words),
and the order of its actions (one primary next step, the others in a menu).

Read-only: lead values only through ``access.selectors.lead_view`` (masked, audited); which
actions exist is the workflow's answer (``workflow.transitions.actions_available``); this module
only words and orders them. The views in ``views_referral`` render it and take the actions.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone

from refdesk.access import policy
from refdesk.access.selectors import lead_view
from refdesk.accounts.roles import LEAD_WORKERS
from refdesk.consent.choices import WithdrawalReason
from refdesk.consent.selectors import consent_current, consent_history
from refdesk.core.timezones import timezone_label
from refdesk.desk import appointments_page, forms
from refdesk.desk import queue_selectors as qs
from refdesk.desk.timeline import actor_name, referral_timeline
from refdesk.intake.choices import OUTCOME_REASONS, Outcome, PrescreenOutcome, reason_label
from refdesk.intake.labels import (
    channel_label,
    item_label,
    lead_label,
    purpose_label,
    request_type_label,
)
from refdesk.intake.models import Referral
from refdesk.outreach.choices import MessagePurpose, MessageStatus
from refdesk.outreach.selectors import messages_of
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewState
from refdesk.routing.models import QueueNotice, Review
from refdesk.routing.selectors import (
    assignees_for,
    decision_explanation,
    latest_decision,
    reroute_targets,
)
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.selectors import appointments_of, scheduling_rules
from refdesk.workflow.checks import open_checks
from refdesk.workflow.contact import CHANNELS, requestable_items
from refdesk.workflow.contact import OUTCOME_LABELS as CONTACT_OUTCOME_LABELS
from refdesk.workflow.contact import OUTCOMES as CONTACT_OUTCOMES
from refdesk.workflow.messages import SENDABLE_CHANNELS, refusal_words
from refdesk.workflow.transitions import STAFF_ACTIONS, Situation, actions_available

# The page's words for each action: its menu entry, and what the confirmation says once done.
ACTION_TITLES = {
    "claim": "Claim",
    "assign": "Assign to the next available member",
    "assign_to": "Assign to a team member",
    "log_contact": "Log a contact attempt",
    "send_message": "Send a message from a template",
    "request_info": "Ask the referrer for missing information",
    "record_prescreen": "Record the prescreen outcome",
    "qualify": "Qualify and close",
    "disqualify": "Disqualify and close",
    "close": "Close with another outcome",
    "reroute": "Re-route to another queue",
    "approve_review": "Approve",
    "reject_review": "Reject",
    "record_consent": "Record consent",
    "withdraw_consent": "Record a consent withdrawal",
    "schedule": "Book an appointment",
    "reschedule": "Reschedule the appointment",
    "cancel_appointment": "Cancel the appointment",
    "record_attendance": "Record attendance",
}
DONE_MESSAGES = {
    "claim": "You claimed {ref}: it is yours to work now.",
    "assign": "{ref} was assigned to the next available team member.",
    "assign_to": "{ref} was assigned.",
    "log_contact": "Contact attempt logged on {ref}.",
    "send_message": "The message to the lead on {ref} is queued; it is checked again and sent "
    "within a minute.",
    "request_info": "The referrer was asked for the missing information; {ref} waits for it "
    "and its first-response clock is paused.",
    "record_prescreen": "Prescreen outcome recorded on {ref}.",
    "qualify": "{ref} was qualified and closed.",
    "disqualify": "{ref} was disqualified and closed.",
    "close": "{ref} was closed.",
    "reroute": "{ref} was re-routed.",
    "approve_review": "Review approved on {ref}.",
    "reject_review": "Review rejected on {ref}.",
    "record_consent": "Consent recorded on {ref}.",
    "withdraw_consent": "Consent withdrawal recorded on {ref}.",
    "schedule": "The appointment on {ref} is booked; the lead's confirmation and reminders "
    "are on their way.",
    "reschedule": "The appointment on {ref} was moved; the lead gets the updated invite.",
    "cancel_appointment": "The appointment on {ref} was cancelled.",
    "record_attendance": "Attendance recorded on {ref}.",
}
# Which action the page puts first, when the role may take it now: the next step of the work.
PRIMARY_ORDER = (
    "approve_review",
    "record_attendance",
    "claim",
    "record_prescreen",
    "log_contact",
    "qualify",
    "assign",
    "assign_to",
    "record_consent",
)
FLAG_WORDS = {
    "possible_adverse_event": "Possible adverse event (sent to drug safety)",
    "medical_review_required": "Medical review required",
    "high_value": "High-value lead",
    "route_changed": "Route changed by a newer rule",
}
# Reviews show their two decisions together; these never appear alone in the menu.
REVIEW_ACTIONS = ("approve_review", "reject_review")


def _labelled(definition, values: dict, label) -> list[tuple[str, object]]:
    return [(label(definition, name), value) for name, value in values.items()]


def _answer_label(definition, name: str) -> str:
    return item_label(definition, f"answers.{name}")


def _situation(request, referral: Referral, reviews, consent, definition, booked) -> Situation:
    return Situation(
        schedules=scheduling_rules(definition) is not None,
        appointment_started=booked is not None and booked.starts_at <= timezone.now(),
        stage=referral.stage,
        assigned_to_id=referral.assigned_to_id,
        user_id=request.user.pk,
        in_queue=referral.queue_id is not None,
        review_pending=any(r.state == ReviewState.PENDING for r in reviews),
        is_trial=referral.program.goal == "trial_prescreening",
        consent_granted=consent.granted,
    )


def detail_context(request, referral: Referral, *, failed: str = "") -> dict:
    """Everything the page shows; lead values only through ``lead_view`` (masked, audited).
    The actions are the workflow's answer (``actions_available``), not decided here; the page
    only orders them: one primary next step, the others in a menu. ``failed``: the action
    whose post was refused (its form is built again from what was posted)."""
    user = request.user
    definition = version_definition(referral.program_version)
    lead = lead_view(user=user, referral=referral) or {}
    consent = consent_current(referral)
    decision = latest_decision(referral)
    sees_free_text = policy.has_perm(user, "referral.view_lead", referral)
    reviews = list(Review.objects.filter(referral=referral).order_by("requested_at"))
    for review in reviews:
        review.decider = actor_name(review.decided_by) if review.decided_by else ""
    # Every appointment in one query (the booked one among them: at most one is booked).
    appointments = appointments_of(referral)
    booked = next((a for a in appointments if a.status == AppointmentStatus.BOOKED), None)
    actions = actions_available(
        user, referral, _situation(request, referral, reviews, consent, definition, booked)
    )
    timeline = referral_timeline(referral=referral, show_free_text=sees_free_text)
    primary, others = _ordered_actions(referral, actions, timeline)
    now = timezone.now()
    lead_fields = lead.get("fields", {})
    lead_answers = lead.get("answers", {})
    lead_zone = _lead_zone(lead)
    return {
        "referral": referral,
        "program_name": definition.name,
        "request_type_label": request_type_label(definition, referral.request_type),
        "outcome_reason_label": reason_label(referral.outcome_reason)
        if referral.outcome_reason
        else "",
        "lead": lead,
        "lead_title": _lead_title(referral, lead),
        "lead_fields": _labelled(definition, lead_fields, lead_label),
        "lead_answers": _labelled(definition, lead_answers, _answer_label),
        "lead_zone": lead_zone,
        "lead_zone_label": timezone_label(str(lead_zone or "")),
        # The lead's time is worth a second line only when it is not the reader's own.
        "lead_zone_differs": str(lead_zone or "") != timezone.get_current_timezone_name(),
        "now": now,
        "flag_labels": [FLAG_WORDS.get(flag, flag.replace("_", " ")) for flag in referral.flags],
        "sla_state": qs.sla_state(referral, now=now, day_end=now + _DAY),
        "sla_text": qs.sla_text(referral, now=now),
        "consent": consent,
        "consent_purposes": [purpose_label(definition, p) for p in consent.purposes],
        "consent_channels": [channel_label(c) for c in consent.channels],
        "consent_history": _worded_history(referral, definition)
        if consent.needed or consent.record
        else [],
        "decision": decision,
        "explanation": (
            decision_explanation(decision, sees_lead=sees_free_text) if decision else []
        ),
        "checklist": (decision.decision.get("checklist") or []) if decision else [],
        "show_check_reasons": sees_free_text,
        "reviews": reviews,
        "pending_reviews": [r for r in reviews if r.state == ReviewState.PENDING],
        "review_question": lead_answers.get("question") if not lead.get("masked") else None,
        "notices": list(
            QueueNotice.objects.filter(referral=referral).select_related("queue").order_by("id")
        ),
        "missing": [item_label(definition, item) for item in referral.missing],
        "timeline": timeline,
        "outreach_messages": _messages(referral, definition),
        "actions": actions,
        "booked": booked,
        "schedules": scheduling_rules(definition) is not None,
        "appointments": appointments_page.appointment_rows(referral, appointments),
        "open_checks": open_checks(referral),
        "may_resolve_checks": policy.has_perm(user, "referral.log_contact", referral),
        # The booking form asked for with another appointment type's times (``?type=``).
        "opened": "schedule" if request.method == "GET" and request.GET.get("type") else "",
        "primary": primary,
        "why_no_action": "" if primary else _why_no_action(user, referral),
        "others": [(name, ACTION_TITLES[name]) for name in others],
        "forms": _action_choices(referral, actions, definition, consent)
        | appointments_page.appointment_choices(
            request, referral, actions, definition, booked, failed
        ),
    }


_DAY = dt.timedelta(days=1)
MESSAGE_PURPOSES = dict(MessagePurpose.choices)
MESSAGE_STATUSES = dict(MessageStatus.choices)


def _messages(referral: Referral, definition) -> list[dict]:
    """The referral's messages in words: what, to whom, how, and where each stands (no text,
    no address: the trail and the outbox hold those)."""
    rows = []
    for message in messages_of(referral):
        template = definition.templates.get(message.template_key)
        why = refusal_words(message.reason)
        rows.append(
            {
                "created_at": message.created_at,
                "purpose": MESSAGE_PURPOSES.get(message.purpose, message.purpose),
                "audience": message.audience,
                "channel": channel_label(message.channel),
                "template": template.name if template else message.template_key,
                "version": message.template.version if message.template else None,
                "status": message.status,
                "status_label": MESSAGE_STATUSES.get(message.status, message.status),
                "why": why if message.reason else "",
                "due": message.next_action_at,
                "sent_at": message.sent_at,
                "materials": [m.title for m in message.materials.all()],
            }
        )
    return rows


def _worded_history(referral: Referral, definition) -> list:
    """The consent events, each with its purposes and channels in words."""
    history = consent_history(referral)
    for record in history:
        record.purpose_words = [purpose_label(definition, p) for p in record.purposes]
        record.channel_words = [channel_label(c) for c in record.channels]
    return history


def _lead_title(referral: Referral, lead: dict) -> str:
    """The header's name for the lead: their name, or the kind when the role sees it masked."""
    if lead and not lead.get("masked") and lead.get("name"):
        return lead["name"]
    return f"{referral.get_lead_kind_display()} lead (details masked for your role)"


def _lead_zone(lead: dict) -> zoneinfo.ZoneInfo | None:
    """The lead's own time zone, when the role sees it (contact times are shown in it too)."""
    if not lead or lead.get("masked"):
        return None
    name = (lead.get("fields") or {}).get("timezone") or ""
    try:
        return zoneinfo.ZoneInfo(name) if name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _why_no_action(user, referral: Referral) -> str:
    """The empty state of the next step: why there is nothing for this user to do here."""
    if referral.stage == "closed":
        return "This referral is closed: there is nothing left to do."
    if user.role not in LEAD_WORKERS:
        return "Your role reads this referral; it does not act on it."
    if referral.assigned_to_id and referral.assigned_to_id != user.pk:
        owner = referral.assigned_to
        return f"{owner.get_full_name() or owner.username} is working this referral."
    if referral.stage == "needs_info":
        return "Waiting for the referrer to supply the missing information."
    return "Your role reads this referral; it does not act on it."


def _ordered_actions(referral: Referral, actions, timeline) -> tuple[str | None, list[str]]:
    """(the primary next step, the other actions in a stable order). A trial referral's
    prescreen comes before contact; once the lead was reached, qualifying is next."""
    order = list(PRIMARY_ORDER)
    reached = any(
        entry.action == "referral.contact_attempted" and entry.values.get("outcome") == "reached"
        for entry in timeline
    )
    if referral.prescreen_outcome:
        order.remove("record_prescreen")
    if reached:
        order.remove("qualify")
        order.insert(order.index("log_contact"), "qualify")
    primary = next((name for name in order if name in actions), None)
    rest = [
        name
        for name in STAFF_ACTIONS
        if name in actions and name != primary and name not in REVIEW_ACTIONS
    ]
    return primary, rest


def _action_choices(referral: Referral, actions, definition, consent) -> dict:
    """Choices for the action forms, built only for the actions offered."""
    choices: dict = {}
    if "assign_to" in actions:
        choices["assignees"] = [
            (
                str(user.public_id),
                f"{user.get_full_name() or user.username} ({user.username}) — "
                f"{user.open_load} open",
            )
            for user in assignees_for(referral)
        ]
    if "reroute" in actions:
        choices["queues"] = [
            (target.queue.slug, target.queue.name)
            for target in reroute_targets(referral)
            if target.allowed
        ]
    if "request_info" in actions:
        choices["items"] = [
            (item, item_label(definition, item)) for item in requestable_items(referral)
        ]
    rules = definition.consent
    if rules is not None and ("record_consent" in actions or "withdraw_consent" in actions):
        choices["consent_purposes"] = [(p, purpose_label(definition, p)) for p in rules.purposes]
        choices["consent_channels"] = [(c, channel_label(c)) for c in rules.channels]
        choices["consent_methods"] = [(m, METHOD_WORDS.get(m, m)) for m in rules.methods]
        choices["consent_texts"] = [text.version for text in rules.texts]
        choices["withdrawal_reasons"] = WithdrawalReason.choices
        choices["granted_purposes"] = [(p, purpose_label(definition, p)) for p in consent.purposes]
        choices["granted_channels"] = [(c, channel_label(c)) for c in consent.channels]
    if "send_message" in actions:
        choices["lead_templates"] = [
            (key, template.name)
            for key, template in definition.templates.items()
            if template.audience == "lead"
            and (not template.request_types or referral.request_type in template.request_types)
        ]
        choices["send_channels"] = [(c, channel_label(c)) for c in SENDABLE_CHANNELS]
    choices["channels"] = [(c, channel_label(c)) for c in CHANNELS]
    choices["contact_outcomes"] = [(o, CONTACT_OUTCOME_LABELS[o]) for o in CONTACT_OUTCOMES]
    choices["prescreen_outcomes"] = PrescreenOutcome.choices
    choices["close_outcomes"] = [(o, Outcome(o).label) for o in forms.CLOSE_OUTCOMES]
    choices["not_qualified_codes"] = [
        (code, reason_label(code)) for code in OUTCOME_REASONS[Outcome.NOT_QUALIFIED]
    ]
    # Reason codes grouped by outcome: the form lists only the chosen outcome's codes.
    choices["close_codes"] = [
        (outcome, Outcome(outcome).label, [(c, reason_label(c)) for c in OUTCOME_REASONS[outcome]])
        for outcome in forms.CLOSE_OUTCOMES
    ]
    return choices


# How consent was captured, in the words of a member of staff recording it.
METHOD_WORDS = {
    "self": "The person gave it themselves (in writing)",
    "attested_by_referrer": "The referrer attested it",
    "verbal_recorded": "Verbally, on a recorded call",
}
