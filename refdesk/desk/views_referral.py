"""The referral page ``/desk/referrals/<public_id>``, its timeline fragment, its actions and
its manual checks (``.../checks/<check_public_id>/done``).

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
from refdesk.access.selectors import NOT_FOUND_MESSAGE, referral_get_for_user
from refdesk.accounts.models import User
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.desk import appointment_actions, forms
from refdesk.desk.referral_page import DONE_MESSAGES, detail_context
from refdesk.desk.timeline import referral_timeline
from refdesk.intake.choices import Outcome
from refdesk.intake.models import Referral
from refdesk.routing.models import Review
from refdesk.workflow.assignment import referral_assign_next, referral_assign_to, referral_claim
from refdesk.workflow.checks import manual_check_resolve
from refdesk.workflow.closing import referral_close, referral_record_prescreen
from refdesk.workflow.consent import consent_record, consent_withdraw
from refdesk.workflow.contact import (
    contact_attempt_log,
    referral_request_info,
)
from refdesk.workflow.messages import message_send
from refdesk.workflow.models import ManualCheck
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.route import referral_reroute
from refdesk.workflow.transitions import STAFF_ACTIONS


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _not_found():
    return Http404(NOT_FOUND_MESSAGE)


# --- rendering ---------------------------------------------------------------------------------


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
        context = detail_context(request, referral, failed=failed if error is not None else "")
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


@login_required
@require_POST
def referral_check_done(request, public_id: uuid.UUID, check_id: uuid.UUID):
    """Mark one of the referral's open manual checks done. Who may: the roles that work the
    referral (the contact rule: a check is a person following the lead up); anyone else, and a
    check of another referral, is not found."""
    referral = referral_get_for_user(user=request.user, public_id=public_id)
    if not policy.has_perm(request.user, "referral.log_contact", referral):
        raise _not_found()
    check = ManualCheck.objects.filter(referral=referral, public_id=check_id).first()
    if check is None:
        raise _not_found()
    check.referral = referral  # known: the service audits on it
    try:
        manual_check_resolve(check=check, user=request.user)
    except ApplicationError as error:  # done meanwhile (another tab, a colleague)
        return render_detail(request, referral, error=error, failed="check")
    messages.success(request, f"Check done on {referral.reference}: {check.subject}.")
    if is_htmx(request):
        return render_detail(request, referral)
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


def _send_message(request, referral):
    message_send(
        referral=referral,
        template_key=request.POST.get("template", ""),
        channel=request.POST.get("channel", ""),
        user=request.user,
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
    "send_message": _send_message,
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
    "schedule": appointment_actions.schedule,
    "reschedule": appointment_actions.reschedule,
    "cancel_appointment": appointment_actions.cancel_appointment,
    "record_attendance": appointment_actions.record_attendance,
}
assert set(HANDLERS) == set(policy.ACTIONS) == set(STAFF_ACTIONS), (
    "every staff action of the workflow has a policy row and exactly one handler"
)
