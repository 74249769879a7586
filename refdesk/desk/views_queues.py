"""The queue pages: /desk/ (the queues a user may see, with counts) and /desk/queues/<slug>.

Thin views: parse -> authorize through ``refdesk.access.selectors`` -> read through
``refdesk.desk.queue_selectors`` (or one service call for a claim) -> render. A queue the user
may not see raises the same ``Http404`` as a queue that does not exist.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.selectors import (
    NOT_FOUND_MESSAGE,
    lead_names_for_rows,
    queue_get_for_user,
    queue_list_visible_to,
    referral_get_for_user,
    referral_list_visible_to,
)
from refdesk.accounts.models import User
from refdesk.core.errors import ApplicationError
from refdesk.desk import queue_selectors as qs
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.referrers.models import Source
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.transitions import Situation, action_available

PAGE_SIZES = (5, 10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
FILTER_KEYS = ("stage", "outcome", "source", "request_type", "sla", "assignee", "size")


class QueueFilterForm(forms.Form):
    """The queue page's filters (GET). Invalid values are dropped, never an error page."""

    stage = forms.ChoiceField(
        required=False,
        choices=[("", "All open")] + [c for c in Stage.choices if c[0] != Stage.RECEIVED],
    )
    outcome = forms.ChoiceField(required=False, choices=[("", "Any")] + Outcome.choices)
    source = forms.ChoiceField(required=False, choices=[("", "Any")])
    request_type = forms.SlugField(required=False, max_length=63)
    sla = forms.ChoiceField(required=False, choices=[("", "Any")] + list(qs.SLA_STATES))
    assignee = forms.ChoiceField(required=False, choices=[("", "Anyone")])
    size = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=DEFAULT_PAGE_SIZE,
        choices=[(n, str(n)) for n in PAGE_SIZES],
    )

    def __init__(self, data, *, sources, members):
        if data.get("size") not in {str(n) for n in PAGE_SIZES}:
            # The list falls back to the default size; the form must show (and submit) it too,
            # not the first option a select without a selected one shows.
            data = data.copy()
            data["size"] = str(DEFAULT_PAGE_SIZE)
        super().__init__(data)
        self.fields["source"].choices = [("", "Any"), *sources]
        self.fields["assignee"].choices = [
            ("", "Anyone"),
            ("me", "Me"),
            ("unassigned", "Unassigned"),
            *((str(user.public_id), user.get_full_name() or user.username) for user in members),
        ]

    def values(self) -> dict:
        """The valid filters only (a bad value in one field does not cancel the others)."""
        self.is_valid()
        return {key: value for key, value in self.cleaned_data.items() if value not in ("", None)}


def _filtered(referrals, values: dict, *, user, now, day_end):
    """(referrals matching every filter but the stage, the stages to list)."""
    if values.get("outcome") or values.get("stage") == Stage.CLOSED:
        stages = (Stage.CLOSED,)
        if values.get("outcome"):
            referrals = referrals.filter(outcome=values["outcome"])
    elif values.get("stage"):
        stages = (values["stage"],)
    else:
        stages = qs.OPEN_STAGES
    if values.get("source"):
        referrals = referrals.filter(source__slug=values["source"])
    if values.get("request_type"):
        referrals = referrals.filter(request_type=values["request_type"])
    if values.get("sla"):
        stages = tuple(stage for stage in stages if stage in qs.SLA_RUNNING_STAGES)
        referrals = referrals.filter(qs.sla_filter(values["sla"], now=now, day_end=day_end))
    assignee = values.get("assignee")
    if assignee == "me":
        referrals = referrals.filter(assigned_to=user)
    elif assignee == "unassigned":
        referrals = referrals.filter(assigned_to__isnull=True)
    elif assignee:
        referrals = referrals.filter(assigned_to__public_id=assignee)
    return referrals, stages


def _detail_url(referral) -> str | None:
    # The detail page is the referral pages' route; tolerate its absence (no broken links).
    try:
        return reverse("desk:referral_detail", kwargs={"public_id": referral.public_id})
    except NoReverseMatch:
        return None


def _rows(*, user, queue, referrals, now, day_end) -> list[dict]:
    names = lead_names_for_rows(user=user, queue=queue, referrals=referrals)
    # Per-row rule checks need the queue (its team); every row is in this queue.
    may_act_here = policy.member_of_queue_team(user, queue)
    rows = []
    for referral in referrals:
        Referral.queue.field.set_cached_value(referral, queue)  # known: no query per row
        claimable = may_act_here and action_available(
            user,
            referral,
            "claim",
            Situation(
                stage=referral.stage,
                assigned_to_id=referral.assigned_to_id,
                user_id=user.pk,
                in_queue=True,
            ),
        )
        rows.append(
            {
                "referral": referral,
                "lead_name": names[referral.pk],
                "sla_state": qs.sla_state(referral, now=now, day_end=day_end),
                "sla_text": qs.sla_text(referral, now=now),
                "detail_url": _detail_url(referral),
                "claimable": claimable,
            }
        )
    return rows


@require_GET
@login_required
def queue_index(request):
    """The queues the user may see, each with open, unassigned and SLA-breached counts."""
    queues = list(queue_list_visible_to(user=request.user))
    counts = qs.queue_counts(
        referral_list_visible_to(user=request.user), queue_ids=[queue.pk for queue in queues]
    )
    entries = [{"queue": queue, **counts[queue.pk]} for queue in queues]
    return render(request, "desk/queues.html", {"entries": entries})


@require_GET
@login_required
def queue_detail(request, slug: str):
    """One queue's referrals: filtered, sorted by SLA due time, paged by seek."""
    queue = queue_get_for_user(user=request.user, slug=slug)
    now = timezone.now()
    day_end = qs.end_of_local_day(now, queue.team.timezone)
    sources = Source.objects.order_by("slug").values_list("slug", "label").distinct()
    members = User.objects.filter(memberships__team_id=queue.team_id).order_by("username")
    form = QueueFilterForm(request.GET, sources=list(sources), members=members)
    values = form.values()
    size = values.pop("size", DEFAULT_PAGE_SIZE)
    referrals, stages = _filtered(
        referral_list_visible_to(user=request.user).filter(queue=queue),
        values,
        user=request.user,
        now=now,
        day_end=day_end,
    )
    cursor = qs.Cursor.decode(request.GET.get("after", "")) if request.GET.get("after") else None
    page, next_cursor = qs.queue_page(
        referrals, stages=stages, cursor=cursor, size=size, untimed=not values.get("sla")
    )
    filters = {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}
    context = {
        "queue": queue,
        "form": form,
        "rows": _rows(user=request.user, queue=queue, referrals=page, now=now, day_end=day_end),
        "shows_lead": policy.sees_lead_in_queue(request.user, queue),
        "filters_query": urlencode(filters),
        "next_query": urlencode({**filters, "after": next_cursor.encode()}) if next_cursor else "",
        "first_page": cursor is None,
    }
    return render(request, "desk/queue.html", context)


def _back_to_queue(queue, query: str) -> str:
    # Only known filter keys go back into the URL: the posted query is user input.
    incoming = QueryDict(query or "")
    kept = {key: incoming[key] for key in (*FILTER_KEYS, "after") if incoming.get(key)}
    url = reverse("desk:queue", kwargs={"slug": queue.slug})
    return f"{url}?{urlencode(kept)}" if kept else url


@require_POST
@login_required
def queue_claim(request, slug: str, public_id):
    """Claim a queued referral from the queue page, then back to the same filtered page.

    With htmx, answers with the row alone. Not allowed to claim (or not in this queue) is the
    same 404 as a missing referral; a referral claimed meanwhile is a message, not an error page.
    """
    queue = queue_get_for_user(user=request.user, slug=slug)
    referral = referral_get_for_user(user=request.user, public_id=public_id)
    if referral.queue_id != queue.pk or not policy.has_perm(
        request.user, "referral.claim", referral
    ):
        raise Http404(NOT_FOUND_MESSAGE)
    error = None
    try:
        referral_claim(referral=referral, user=request.user)
    except ApplicationError as failure:
        error = failure.message
    if request.htmx:
        now = timezone.now()
        day_end = qs.end_of_local_day(now, queue.team.timezone)
        referral = referral_get_for_user(user=request.user, public_id=public_id)
        [row] = _rows(
            user=request.user, queue=queue, referrals=[referral], now=now, day_end=day_end
        )
        context = {"row": row, "shows_lead": policy.sees_lead_in_queue(request.user, queue)}
        context.update(queue=queue, row_error=error, filters_query=request.POST.get("query", ""))
        return render(request, "desk/_queue_row.html", context)
    if error:
        messages.error(request, f"{referral.reference} was not claimed: {error}")
    else:
        messages.success(request, f"You claimed {referral.reference}.")
    return HttpResponseRedirect(_back_to_queue(queue, request.POST.get("query", "")))
