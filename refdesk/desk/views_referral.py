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

import uuid
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE, lead_view, referral_get_for_user
from refdesk.accounts.models import User
from refdesk.consent.choices import WithdrawalReason
from refdesk.consent.selectors import consent_current, consent_history
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.desk import forms
from refdesk.desk.timeline import actor_name, referral_timeline
from refdesk.intake.choices import OUTCOME_REASONS, Outcome, PrescreenOutcome
from refdesk.intake.labels import item_label, lead_label
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
from refdesk.workflow.contact import OUTCOMES as CONTACT_OUTCOMES
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.route import referral_reroute
from refdesk.workflow.transitions import STAFF_ACTIONS, Situation, actions_available


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
    The actions are the workflow's answer (``actions_available``), not decided here."""
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
    return {
        "referral": referral,
        "program_name": definition.name,
        "lead": lead,
        "lead_fields": _labelled(definition, lead.get("fields", {}), lead_label),
        "lead_answers": _labelled(definition, lead.get("answers", {}), _answer_label),
        "consent": consent,
        "consent_history": consent_history(referral) if consent.needed or consent.record else [],
        "decision": decision,
        "explanation": (
            decision_explanation(decision, sees_lead=sees_free_text) if decision else []
        ),
        "checklist": (decision.decision.get("checklist") or []) if decision else [],
        "show_check_reasons": sees_free_text,
        "reviews": reviews,
        "pending_reviews": [r for r in reviews if r.state == ReviewState.PENDING],
        "notices": list(
            QueueNotice.objects.filter(referral=referral).select_related("queue").order_by("id")
        ),
        "missing": [item_label(definition, item) for item in referral.missing],
        "timeline": referral_timeline(referral=referral, show_free_text=sees_free_text),
        "actions": actions,
        "forms": _action_choices(referral, actions, definition, consent),
    }


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
        choices["consent_purposes"] = list(rules.purposes)
        choices["consent_channels"] = list(rules.channels)
        choices["consent_methods"] = list(rules.methods)
        choices["consent_texts"] = [text.version for text in rules.texts]
        choices["withdrawal_reasons"] = WithdrawalReason.choices
        choices["granted_purposes"] = list(consent.purposes)
        choices["granted_channels"] = list(consent.channels)
    choices["channels"] = CHANNELS
    choices["contact_outcomes"] = CONTACT_OUTCOMES
    choices["prescreen_outcomes"] = PrescreenOutcome.choices
    choices["close_outcomes"] = [(o, Outcome(o).label) for o in forms.CLOSE_OUTCOMES]
    choices["not_qualified_codes"] = OUTCOME_REASONS[Outcome.NOT_QUALIFIED]
    choices["close_codes"] = sorted(
        {code for outcome in forms.CLOSE_OUTCOMES for code in OUTCOME_REASONS[outcome]}
    )
    return choices


def render_detail(request, referral: Referral, *, error: ApplicationError | None = None):
    """The full page, or just its body for htmx; with the error of a failed action, if any."""
    with transaction.atomic():  # lead_view audits the display in the same transaction
        context = detail_context(request, referral)
    context["error"] = error
    context["error_messages"] = _messages(error)
    template = "desk/_referral_body.html" if is_htmx(request) else "desk/referral_detail.html"
    status = error.status if error is not None else 200
    response = TemplateResponse(request, template, context, status=status)
    response["Cache-Control"] = "private, no-store"  # patient data must not sit in caches
    return response


def _messages(error: ApplicationError | None) -> list[str]:
    if error is None:
        return []
    if isinstance(error, ValidationFailed):
        return [item["message"] for item in error.errors]
    return [error.message]


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
        return render_detail(request, referral, error=error)
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
    outcome = forms.close_outcome(request.POST)
    referral_close(
        referral=referral,
        outcome=outcome,
        reason_code=forms.reason_code(request.POST, outcome),
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
