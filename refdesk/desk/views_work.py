"""Work tools on the queue pages: take the next referral, saved filters, bulk actions.

Thin views like the rest of the desk: parse -> authorize (``refdesk.access``) -> the workflow
service per referral (each in its own transaction, each audited by the service) -> redirect or
render. Anything the user may not see is "not found", exactly like a missing referral.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from refdesk.access import policy
from refdesk.access.selectors import (
    NOT_FOUND_MESSAGE,
    queue_get_for_user,
    queue_list_visible_to,
    referral_get_for_user,
    referral_list_visible_to,
)
from refdesk.accounts.models import User
from refdesk.core.errors import ApplicationError
from refdesk.desk import queue_selectors as qs
from refdesk.desk.models import MY_WORK
from refdesk.desk.saved_filters import saved_filter_delete, saved_filter_save
from refdesk.desk.views_queues import FILTER_KEYS, back_to_list, bulk_actions_for
from refdesk.intake.choices import Stage
from refdesk.workflow.assignment import referral_assign_to, referral_claim
from refdesk.workflow.route import referral_reroute

# A claim lost to a colleague is retried on the next candidate, this many times in all.
NEXT_ATTEMPTS = 5
BULK_MAX = 100


# --- next referral -----------------------------------------------------------------------


def _workable_queues(user, slug: str | None) -> list:
    """The queues the user works (member of the owning team), or the one named (404 if not)."""
    if slug:
        queue = queue_get_for_user(user=user, slug=slug)
        return [queue] if policy.member_of_queue_team(user, queue) else []
    return [q for q in queue_list_visible_to(user=user) if policy.member_of_queue_team(user, q)]


def _next_candidates(user, queues: list, limit: int) -> list:
    """The oldest-due queued referrals the user could claim in ``queues`` (unassigned, or
    assigned to them), due soonest first; one seek per queue, merged (queue_selectors)."""
    referrals = referral_list_visible_to(user=user).filter(
        queue_id__in=[queue.pk for queue in queues]
    )
    found = []
    for queue in queues:
        page, _ = qs.queue_page(
            referrals.filter(queue=queue).filter(Q(assigned_to__isnull=True) | Q(assigned_to=user)),
            stages=(Stage.QUEUED,),
            cursor=None,
            size=limit,
            related=("queue", "queue__team"),
        )
        found.extend(page)
    return sorted(found, key=qs.row_key(qs.SORTS[qs.DEFAULT_SORT]))[:limit]


@require_POST
@login_required
def next_referral(request, slug: str | None = None):
    """Claim the oldest-due referral the user may take (in this queue, or across their queues)
    and open it.

    1. Work in progress first: if the user already has a referral in progress, offer it (a
       page with "Continue" and "Take a new one anyway"), unless they chose a new one.
    2. Candidates: queued, unassigned or theirs, due soonest first, in queues they work.
    3. Claim through ``referral_claim`` (audited); a candidate claimed meanwhile by someone
       else is skipped for the next, up to ``NEXT_ATTEMPTS``.
    4. Nothing to take: a message saying so, back to the list.
    """
    queues = _workable_queues(request.user, slug)
    page_queue = queues[0] if slug and queues else None
    back = back_to_list(page_queue, request.POST.get("query", ""))
    if slug and not queues:
        back = back_to_list(queue_get_for_user(user=request.user, slug=slug), "")
    may_claim = request.user.role in policy.ACTION_ROLES["claim"]
    if not queues or not may_claim:
        messages.info(request, "There is nothing for you to take: your role does not claim work.")
        return HttpResponseRedirect(back)
    if request.POST.get("take") != "new":
        current = (
            referral_list_visible_to(user=request.user)
            .filter(assigned_to=request.user, stage=Stage.IN_PROGRESS)
            .order_by("first_response_due_at", "public_id")
            .only("public_id", "reference")
            .first()
        )
        if current is not None:
            return render(
                request,
                "desk/next_referral.html",
                {"current": current, "slug": slug, "query": request.POST.get("query", "")},
            )
    tried = 0
    for referral in _next_candidates(request.user, queues, NEXT_ATTEMPTS):
        if not policy.has_perm(request.user, "referral.claim", referral):
            continue
        tried += 1
        try:
            referral_claim(referral=referral, user=request.user)
        except ApplicationError:
            continue  # claimed or moved meanwhile: the next one
        messages.success(request, f"You claimed {referral.reference}, the next one due.")
        return HttpResponseRedirect(
            reverse("desk:referral_detail", kwargs={"public_id": referral.public_id})
        )
    if tried:
        messages.info(
            request,
            "Colleagues took the referrals you were about to get. Press Next referral again.",
        )
    else:
        where = "this queue" if slug else "your queues"
        messages.info(request, f"Nothing to take: no referral is waiting in {where}. Well done.")
    return HttpResponseRedirect(back)


# --- saved filters -----------------------------------------------------------------------


@require_POST
@login_required
def saved_filter_create(request):
    """Save the current filters of a queue page (or My work) under a name, for this user."""
    page = request.POST.get("page", "")
    queue = None
    if page != MY_WORK:
        queue = queue_get_for_user(user=request.user, slug=page)
    query = request.POST.get("query", "")
    try:
        saved = saved_filter_save(
            owner=request.user,
            name=request.POST.get("name", ""),
            page=MY_WORK if queue is None else queue.slug,
            query=query,
            keys=FILTER_KEYS,
        )
    except ApplicationError as failure:
        messages.error(request, f"The filter was not saved: {failure.message}")
        return HttpResponseRedirect(back_to_list(queue, query))
    messages.success(request, f"Saved the filter “{saved.name}”.")
    return HttpResponseRedirect(back_to_list(queue, saved.query))


@require_POST
@login_required
def saved_filter_remove(request, public_id):
    """Delete one of the user's saved filters; another user's is "not found"."""
    try:
        saved = saved_filter_delete(owner=request.user, public_id=public_id)
    except ApplicationError:
        raise Http404(NOT_FOUND_MESSAGE) from None
    messages.success(request, f"Deleted the saved filter “{saved.name}”.")
    queue = None
    if saved.queue != MY_WORK:
        queue = queue_list_visible_to(user=request.user).filter(slug=saved.queue).first()
    return HttpResponseRedirect(back_to_list(queue, ""))


# --- bulk actions -----------------------------------------------------------------------


class BulkForm(forms.Form):
    """The action bar (the selected referrals are read apart: each is looked up on its own)."""

    action = forms.ChoiceField(choices=[])
    assignee = forms.CharField(required=False)
    target = forms.CharField(required=False)
    reason = forms.CharField(required=False, max_length=2000)

    def __init__(self, data, *, actions):
        super().__init__(data)
        self.fields["action"].choices = actions


def _parse_ids(values) -> list:
    ids = []
    for value in values:
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            ids.append(None)
    return ids


@require_POST
@login_required
def queue_bulk(request, slug: str):
    """Claim, assign or re-route several referrals of a queue at once (at most ``BULK_MAX``).

    Each referral goes through its own workflow service call (its own transaction, audited by
    the service); the page then lists what succeeded and what was refused, with the reason per
    reference. A referral the user may not see is "not found" (the same as a missing one); one
    they see but may not act on is refused with that reason.
    """
    queue = queue_get_for_user(user=request.user, slug=slug)
    actions = (
        bulk_actions_for(request.user) if policy.member_of_queue_team(request.user, queue) else []
    )
    form = BulkForm(request.POST, actions=actions)
    query = request.POST.get("query", "")
    ids = _parse_ids(request.POST.getlist("referrals"))
    if not form.is_valid() or not ids:
        problem = "Choose an action you may take." if ids else "Select at least one referral."
        messages.error(request, f"Nothing was done: {problem}")
        return HttpResponseRedirect(back_to_list(queue, query))
    if len(ids) > BULK_MAX:
        messages.error(request, f"Nothing was done: select at most {BULK_MAX} referrals at a time.")
        return HttpResponseRedirect(back_to_list(queue, query))
    action = form.cleaned_data["action"]
    assignee = target = None
    if action == "assign_to":
        assignee = (
            User.objects.filter(
                public_id=_parse_ids([form.cleaned_data["assignee"]])[0],
                memberships__team_id=queue.team_id,
            ).first()
            if form.cleaned_data["assignee"]
            else None
        )
        if assignee is None:
            messages.error(request, "Nothing was done: choose a member of the team to assign to.")
            return HttpResponseRedirect(back_to_list(queue, query))
    if action == "reroute":
        target = form.cleaned_data["target"]
        if not target or not form.cleaned_data["reason"].strip():
            messages.error(request, "Nothing was done: a re-route needs a queue and a reason.")
            return HttpResponseRedirect(back_to_list(queue, query))
    results = [
        _bulk_one(
            request.user,
            queue,
            public_id,
            action=action,
            assignee=assignee,
            target=target,
            reason=form.cleaned_data["reason"],
        )
        for public_id in dict.fromkeys(ids)  # once each, in the order given
    ]
    done = [result for result in results if result["ok"]]
    refused = [result for result in results if not result["ok"]]
    context = {
        "queue": queue,
        "action_label": dict(actions)[action],
        "done": done,
        "refused": refused,
        "back_url": back_to_list(queue, query),
    }
    return render(request, "desk/bulk_result.html", context)


_PERMISSION_WORDS = {
    "claim": "you may not claim this referral",
    "assign_to": "you may not assign this referral",
    "reroute": "you may not re-route this referral",
}


def _bulk_one(user, queue, public_id, *, action, assignee, target, reason) -> dict:
    """One item of a bulk action: {"reference", "ok", "reason"} (never raises)."""
    label = str(public_id) if public_id else "(not a referral id)"
    if public_id is None:
        return {"reference": label, "ok": False, "reason": "not found"}
    try:
        referral = referral_get_for_user(user=user, public_id=public_id)
    except Http404:
        return {"reference": label, "ok": False, "reason": "not found"}
    reference = referral.reference
    if referral.queue_id != queue.pk:
        return {"reference": reference, "ok": False, "reason": "not in this queue any more"}
    if not policy.has_perm(user, f"referral.{action}", referral):
        return {"reference": reference, "ok": False, "reason": _PERMISSION_WORDS[action]}
    try:
        if action == "claim":
            referral_claim(referral=referral, user=user)
        elif action == "assign_to":
            referral_assign_to(referral=referral, assignee=assignee, actor=user, reason=reason)
        else:
            referral_reroute(referral=referral, queue=target, reason=reason, actor=user)
    except ApplicationError as failure:
        return {"reference": reference, "ok": False, "reason": failure.message}
    return {"reference": reference, "ok": True, "reason": "", "public_id": referral.public_id}
