"""The referral page ``/desk/referrals/<public_id>``, its timeline fragment and its actions.

Thin views: parse -> authorize (``access.selectors`` for the referral, ``access.policy`` for the
action) -> one service call -> render. Which actions the page offers is the workflow's answer
(``workflow.transitions.actions_available``: the role's actions that the referral's stage and
state allow); the services check again when one is taken. A referral the user may not see, an
action the role may not take and an unknown review id all raise the same ``Http404`` as a
referral that does not exist. Expected business failures (wrong state, bad input) re-render the
page with the error and its status code; nothing here becomes a 500. Every action is a
CSRF-protected POST that works as a plain form (redirect back) and through htmx (the updated
page body is returned).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE, lead_view, referral_get_for_user
from refdesk.accounts.models import User
from refdesk.accounts.roles import LEAD_WORKERS
from refdesk.consent.choices import WithdrawalReason
from refdesk.consent.selectors import consent_current, consent_history
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.core.timezones import timezone_label
from refdesk.desk import forms
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
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewState
from refdesk.routing.models import QueueNotice, Review
from refdesk.routing.selectors import (
    assignees_for,
    decision_explanation,
    latest_decision,
    reroute_targets,
)
from refdesk.workflow.assignment import referral_assign_next, referral_assign_to, referral_claim
from refdesk.workflow.closing import referral_close, referral_record_prescreen
from refdesk.workflow.consent import consent_record, consent_withdraw
from refdesk.workflow.contact import (
    CHANNELS,
    contact_attempt_log,
    referral_request_info,
    requestable_items,
)
from refdesk.workflow.contact import OUTCOME_LABELS as CONTACT_OUTCOME_LABELS
from refdesk.workflow.contact import OUTCOMES as CONTACT_OUTCOMES
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.route import referral_reroute
from refdesk.workflow.transitions import STAFF_ACTIONS, Situation, actions_available

# The page's words for each action: its menu entry, and what the confirmation says once done.
ACTION_TITLES = {
    "claim": "Claim",
    "assign": "Assign to the next available member",
    "assign_to": "Assign to a team member",
    "log_contact": "Log a contact attempt",
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
}
DONE_MESSAGES = {
    "claim": "You claimed {ref}: it is yours to work now.",
    "assign": "{ref} was assigned to the next available team member.",
    "assign_to": "{ref} was assigned.",
    "log_contact": "Contact attempt logged on {ref}.",
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
}
# Which action the page puts first, when the role may take it now: the next step of the work.
PRIMARY_ORDER = (
    "approve_review",
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


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _not_found():
    return Http404(NOT_FOUND_MESSAGE)


# --- page context ------------------------------------------------------------------------------


def _labelled(definition, values: dict, label) -> list[tuple[str, object]]:
    return [(label(definition, name), value) for name, value in values.items()]


def _answer_label(definition, name: str) -> str:
    return item_label(definition, f"answers.{name}")


def _situation(request, referral: Referral, reviews, consent) -> Situation:
    return Situation(
        stage=referral.stage,
        assigned_to_id=referral.assigned_to_id,
        user_id=request.user.pk,
        in_queue=referral.queue_id is not None,
        review_pending=any(r.state == ReviewState.PENDING for r in reviews),
        is_trial=referral.program.goal == "trial_prescreening",
        consent_granted=consent.granted,
    )


def detail_context(request, referral: Referral) -> dict:
    """Everything the page shows; lead values only through ``lead_view`` (masked, audited).
    The actions are the workflow's answer (``actions_available``), not decided here; the page
    only orders them: one primary next step, the others in a menu."""
    user = request.user
    definition = version_definition(referral.program_version)
    lead = lead_view(user=user, referral=referral) or {}
    consent = consent_current(referral)
    decision = latest_decision(referral)
    sees_free_text = policy.has_perm(user, "referral.view_lead", referral)
    reviews = list(Review.objects.filter(referral=referral).order_by("requested_at"))
    for review in reviews:
        review.decider = actor_name(review.decided_by) if review.decided_by else ""
    actions = actions_available(user, referral, _situation(request, referral, reviews, consent))
    timeline = referral_timeline(referral=referral, show_free_text=sees_free_text)
    primary, others = _ordered_actions(referral, actions, timeline)
    now = timezone.now()
    lead_fields = lead.get("fields", {})
    lead_answers = lead.get("answers", {})
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
        "lead_zone": _lead_zone(lead),
        "lead_zone_label": timezone_label(str(_lead_zone(lead) or "")),
        # The lead's time is worth a second line only when it is not the reader's own.
        "lead_zone_differs": str(_lead_zone(lead) or "") != timezone.get_current_timezone_name(),
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
        "actions": actions,
        "primary": primary,
        "why_no_action": "" if primary else _why_no_action(user, referral),
        "others": [(name, ACTION_TITLES[name]) for name in others],
        "forms": _action_choices(referral, actions, definition, consent),
    }


_DAY = dt.timedelta(days=1)


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


def render_detail(
    request,
    referral: Referral,
    *,
    error: ApplicationError | None = None,
    failed: str | None = None,
):
    """The full page, or just its body for htmx; with the error of a failed action, if any:
    then the failed form stays open with what was typed, each message beside its field and in
    the summary at the top, which takes the focus."""
    with transaction.atomic():  # lead_view audits the display in the same transaction
        context = detail_context(request, referral)
    context["error"] = error
    context["error_items"] = _error_items(error, failed)
    context["error_messages"] = [item["message"] for item in context["error_items"]]
    context["field_errors"] = {
        item["field"]: item["message"] for item in context["error_items"] if item["field"]
    }
    context["failed"] = failed if error is not None else None
    context["posted"] = request.POST if error is not None else {}
    template = "desk/_referral_body.html" if is_htmx(request) else "desk/referral_detail.html"
    status = error.status if error is not None else 200
    response = TemplateResponse(request, template, context, status=status)
    response["Cache-Control"] = "private, no-store"  # patient data must not sit in caches
    return response


def _error_items(error: ApplicationError | None, failed: str | None) -> list[dict]:
    """[{"message", "field", "anchor"}]: the anchor is the id of the field in the failed form
    (the summary links to it), or of the form itself when the error is not about one field."""
    if error is None:
        return []
    raw = (
        error.errors
        if isinstance(error, ValidationFailed)
        else [{"field": getattr(error, "field", None), "message": error.message}]
    )
    items = []
    for item in raw:
        field = item.get("field") or ""
        message = item["message"]
        message = message[:1].upper() + message[1:]
        anchor = f"f-{failed}-{field}" if failed and field else f"act-{failed or 'none'}"
        items.append({"message": message, "field": field, "anchor": anchor})
    return items


# --- views -------------------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def referral_detail(request, public_id: uuid.UUID):
    referral = referral_get_for_user(user=request.user, public_id=public_id)
    return render_detail(request, referral)


@login_required
@never_cache
@require_GET
def referral_timeline_fragment(request, public_id: uuid.UUID):
    """The timeline alone, for htmx refreshes."""
    referral = referral_get_for_user(user=request.user, public_id=public_id)
    sees_free_text = policy.has_perm(request.user, "referral.view_lead", referral)
    entries = referral_timeline(referral=referral, show_free_text=sees_free_text)
    return render(request, "desk/_referral_timeline.html", {"timeline": entries})


@login_required
@require_POST
def referral_action(request, public_id: uuid.UUID, action: str):
    """One action: authorize, call its service, answer with the page (or its htmx body)."""
    handler = HANDLERS.get(action)
    if handler is None:
        raise _not_found()
    referral = referral_get_for_user(user=request.user, public_id=public_id)
    if not policy.has_perm(request.user, f"referral.{action}", referral):
        raise _not_found()
    try:
        with transaction.atomic():
            handler(request, referral)
    except ApplicationError as error:
        referral = referral_get_for_user(user=request.user, public_id=public_id)
        return render_detail(request, referral, error=error, failed=action)
    # The action may have taken the referral out of the user's sight (a re-route to another
    # team): then say so instead of showing stale data or a "Not Found" page.
    try:
        updated = referral_get_for_user(user=request.user, public_id=public_id)
    except Http404:
        if is_htmx(request):
            return render(request, "desk/_referral_gone.html", {})
        messages.success(
            request, f"Done. {referral.reference} has left your queues, so it is no longer shown."
        )
        return redirect(reverse("desk:queues"))
    messages.success(request, DONE_MESSAGES[action].format(ref=updated.reference))
    if is_htmx(request):
        return render_detail(request, updated)
    return redirect(reverse("desk:referral_detail", kwargs={"public_id": public_id}))


# --- one handler per action: parse the post, call one service ----------------------------------


def _review(request, referral: Referral) -> Review:
    """A pending review of THIS referral; any other id (another team's included) is not found."""
    try:
        key = uuid.UUID(str(request.POST.get("review", "")))
    except ValueError:
        raise _not_found() from None
    review = Review.objects.filter(referral=referral, public_id=key).first()
    if review is None:
        raise _not_found()
    return review


def _team_member(request, referral: Referral) -> User:
    """The member of the referral's queue team named by public id in the ``assignee`` field.
    Anyone else — another team's member, an unknown or malformed id — is not found, exactly
    like a referral the user may not see; whether a member may take it is the service's call."""
    raw = forms.assignee(request.POST)
    try:
        key = uuid.UUID(raw)
    except ValueError:
        raise _not_found() from None
    member = None
    if referral.queue_id is not None:
        member = User.objects.filter(
            public_id=key, memberships__team_id=referral.queue.team_id
        ).first()
    if member is None:
        raise _not_found()
    return member


def _claim(request, referral):
    referral_claim(referral=referral, user=request.user)


def _assign(request, referral):
    referral_assign_next(referral=referral, actor=request.user)


def _assign_to(request, referral):
    referral_assign_to(
        referral=referral,
        assignee=_team_member(request, referral),
        actor=request.user,
        reason=forms.text(request.POST, "reason", required=False, label="Reason"),
    )


def _log_contact(request, referral):
    contact_attempt_log(
        referral=referral,
        channel=request.POST.get("channel", ""),
        outcome=request.POST.get("outcome", ""),
        party=request.POST.get("party", "lead"),
        note=forms.text(request.POST, "note", required=False, label="Note"),
        actor=request.user,
    )


def _request_info(request, referral):
    referral_request_info(
        referral=referral,
        items=request.POST.getlist("items"),
        reason=forms.text(request.POST, "note", required=False, label="Note"),
        actor=request.user,
    )


def _record_prescreen(request, referral):
    referral_record_prescreen(
        referral=referral, outcome=forms.prescreen_outcome(request.POST), actor=request.user
    )


def _qualify(request, referral):
    referral_close(
        referral=referral,
        outcome=Outcome.QUALIFIED,
        actor=request.user,
        note=forms.text(request.POST, "note", required=False, label="Note"),
    )


def _disqualify(request, referral):
    referral_close(
        referral=referral,
        outcome=Outcome.NOT_QUALIFIED,
        reason_code=forms.reason_code(request.POST, Outcome.NOT_QUALIFIED),
        actor=request.user,
        note=forms.text(request.POST, "note", required=False, label="Note"),
    )


def _close(request, referral):
    outcome, code = forms.close_choice(request.POST)
    referral_close(
        referral=referral,
        outcome=outcome,
        reason_code=code,
        actor=request.user,
        note=forms.text(request.POST, "note", required=False, label="Note"),
    )


def _reroute(request, referral):
    referral_reroute(
        referral=referral,
        queue=forms.queue_slug(request.POST),
        reason=forms.text(request.POST, "reason", required=True, label="Reason"),
        actor=request.user,
    )


def _approve_review(request, referral):
    review_approve(
        review=_review(request, referral),
        reviewer=request.user,
        note=forms.text(request.POST, "note", required=True, label="Approval note"),
    )


def _reject_review(request, referral):
    review_reject(
        review=_review(request, referral),
        reviewer=request.user,
        reason=forms.text(request.POST, "reason", required=True, label="Reason"),
    )


def _record_consent(request, referral):
    consent_record(
        referral=referral,
        purposes=request.POST.getlist("purposes"),
        channels=request.POST.getlist("channels"),
        method=request.POST.get("method", ""),
        text_version=request.POST.get("text_version", ""),
        note=forms.text(request.POST, "note", required=False, label="Note"),
        actor=request.user,
    )


def _withdraw_consent(request, referral):
    everything = request.POST.get("scope", "all") == "all"
    consent_withdraw(
        referral=referral,
        purposes=None if everything else request.POST.getlist("purposes"),
        channels=None if everything else request.POST.getlist("channels"),
        reason=request.POST.get("reason", ""),
        note=forms.text(request.POST, "note", required=False, label="Note"),
        actor=request.user,
    )


HANDLERS: dict[str, Callable] = {
    "claim": _claim,
    "assign": _assign,
    "assign_to": _assign_to,
    "log_contact": _log_contact,
    "request_info": _request_info,
    "record_prescreen": _record_prescreen,
    "qualify": _qualify,
    "disqualify": _disqualify,
    "close": _close,
    "reroute": _reroute,
    "approve_review": _approve_review,
    "reject_review": _reject_review,
    "record_consent": _record_consent,
    "withdraw_consent": _withdraw_consent,
}
assert set(HANDLERS) == set(policy.ACTIONS) == set(STAFF_ACTIONS), (
    "every staff action of the workflow has a policy row and exactly one handler"
)
