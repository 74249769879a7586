"""The queue pages: /desk/ (the queues a user may see, with counts), /desk/queues/<slug> (one
queue) and /desk/work (My work: the user's open referrals across the queues they work).

Thin views: parse -> authorize through ``refdesk.access.selectors`` -> read through
``refdesk.desk.queue_selectors`` (or one service call for a claim) -> render. A queue the user
may not see raises the same ``Http404`` as a queue that does not exist. Each list page runs at
most 8 queries (session, user with teams and MFA state, queue or queues, the menus, the page,
and the audit batch of the patient names shown: tests/test_work_tools.py); a queue page one
more for those who work it: the queue's open manual checks.
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
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
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
from refdesk.accounts.selectors import user_timezone
from refdesk.audit.services import audit_batch
from refdesk.core.errors import ApplicationError
from refdesk.desk import queue_selectors as qs
from refdesk.desk.menus import Menus, page_menus, row_request_type_labels
from refdesk.desk.models import MY_WORK
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.transitions import Situation, action_available

PAGE_SIZES = (5, 10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
FILTER_KEYS = ("stage", "outcome", "source", "request_type", "sla", "assignee", "sort", "size")
# My work is served by the (assigned_to, stage, first_response_due_at) index: due-time sorts.
MY_WORK_SORTS = ("due", "-due")
UNASSIGNED = "unassigned"


class QueueFilterForm(forms.Form):
    """The list pages' filters (GET). Invalid values are dropped, never an error page."""

    stage = forms.ChoiceField(
        required=False,
        choices=[("", "All open")] + [c for c in Stage.choices if c[0] != Stage.RECEIVED],
    )
    outcome = forms.ChoiceField(required=False, choices=[("", "Any")] + Outcome.choices)
    source = forms.ChoiceField(required=False, choices=[("", "Any")])
    request_type = forms.ChoiceField(required=False, choices=[("", "Any")])
    sla = forms.ChoiceField(
        required=False, label="First response", choices=[("", "Any")] + list(qs.SLA_STATES)
    )
    assignee = forms.ChoiceField(required=False, label="Assigned to", choices=[("", "Anyone")])
    sort = forms.ChoiceField(required=False, label="Sort by")
    size = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=DEFAULT_PAGE_SIZE,
        label="Rows per page",
        choices=[(n, str(n)) for n in PAGE_SIZES],
    )

    def __init__(self, data, *, menus: Menus, my_work: bool = False):
        data = data.copy()
        if data.get("size") not in {str(n) for n in PAGE_SIZES}:
            # The list falls back to the default size; the form must show (and submit) it too,
            # not the first option a select without a selected one shows.
            data["size"] = str(DEFAULT_PAGE_SIZE)
        sorts = MY_WORK_SORTS if my_work else tuple(qs.SORTS)
        if data.get("sort") not in sorts:
            data["sort"] = qs.DEFAULT_SORT
        super().__init__(data)
        self.fields["source"].choices = [("", "Any"), *menus.sources]
        self.fields["request_type"].choices = [("", "Any"), *menus.request_types()]
        self.fields["sort"].choices = [(key, qs.SORTS[key].label) for key in sorts]
        if my_work:
            self.fields["assignee"].label = "Show"
            self.fields["assignee"].choices = [
                ("", "Assigned to me"),
                (UNASSIGNED, "Unassigned in my teams' queues"),
            ]
        else:
            self.fields["assignee"].choices = [
                ("", "Anyone"),
                ("me", "Me"),
                (UNASSIGNED, "Unassigned"),
                *menus.members,
            ]

    def selects(self) -> list[dict]:
        """Each filter as {"id", "name", "label", "options"} with the options' HTML built here:
        Django's select widget renders one template per option (about 80 on a queue page),
        which cost more than the page's database work (bench/desk_queue.py)."""
        self.is_valid()
        fields = []
        for bound in self:
            current = str(bound.value() if bound.value() is not None else "")
            fields.append(
                {
                    "id": bound.id_for_label,
                    "name": bound.html_name,
                    "label": bound.label,
                    "options": format_html_join(
                        "",
                        '<option value="{}"{}>{}</option>',
                        (
                            (value, mark_safe(" selected") if str(value) == current else "", text)
                            for value, text in bound.field.choices
                        ),
                    ),
                }
            )
        return fields

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
    elif assignee == UNASSIGNED:
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


def _rows(*, user, referrals, queues: dict, now, menus: Menus | None = None) -> list[dict]:
    """The rows of a list page; ``queues`` maps queue id -> Queue (with team) for every row.
    One audit batch for the patient names shown, whatever the number of queues."""
    names = {}
    with audit_batch():
        for queue_id in {referral.queue_id for referral in referrals}:
            group = [referral for referral in referrals if referral.queue_id == queue_id]
            names.update(lead_names_for_rows(user=user, queue=queues[queue_id], referrals=group))
    labels = row_request_type_labels(referrals, menus or Menus())
    day_ends, rows = {}, []
    for referral in referrals:
        queue = queues[referral.queue_id]
        Referral.queue.field.set_cached_value(referral, queue)  # known: no query per row
        zone = queue.team.timezone
        if zone not in day_ends:
            day_ends[zone] = qs.end_of_local_day(now, zone)
        claimable = policy.member_of_queue_team(user, queue) and action_available(
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
                "queue": queue,
                "lead_name": names[referral.pk],
                "shows_lead": policy.sees_lead_in_queue(user, queue),
                "request_type": labels[referral.pk],
                "sla_state": qs.sla_state(referral, now=now, day_end=day_ends[zone]),
                "sla_text": qs.sla_text(referral, now=now),
                "detail_url": _detail_url(referral),
                "claimable": claimable,
                "claim_url": reverse(
                    "desk:queue_claim",
                    kwargs={"slug": queue.slug, "public_id": referral.public_id},
                )
                if claimable
                else "",
            }
        )
    return rows


def _sort_links(values: dict, filters: dict, sorts: tuple[str, ...]) -> dict:
    """Per sortable column: the URL that sorts by it (flipping the direction when it is the
    current sort) and its aria-sort value."""
    current = values.get("sort", qs.DEFAULT_SORT)
    links = {}
    for column, (ascending, descending) in {
        "due": ("due", "-due"),
        "received": ("received", "-received"),
    }.items():
        if ascending not in sorts:
            continue
        default = ascending if column == "due" else descending  # newest first by default
        target = (
            (descending if current == ascending else ascending)
            if current in (ascending, descending)
            else default
        )
        state = (
            "ascending"
            if current == ascending
            else "descending"
            if current == descending
            else "none"
        )
        query = {key: value for key, value in filters.items() if key != "sort"}
        query["sort"] = target
        links[column] = {"query": urlencode(query), "aria_sort": state}
    return links


def _list_context(
    request, *, values: dict, form, page, next_cursor, cursor, sorts, not_filters=("sort", "size")
) -> dict:
    filters = {key: request.GET[key] for key in FILTER_KEYS if request.GET.get(key)}
    return {
        "form": form,
        "filters_query": urlencode(filters),
        "next_query": urlencode({**filters, "after": next_cursor.encode()}) if next_cursor else "",
        "first_page": cursor is None,
        "sort_links": _sort_links(values, filters, sorts),
        "viewer_tz": user_timezone(request.user),
        "filtered": any(key in filters for key in FILTER_KEYS if key not in not_filters),
    }


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


def bulk_actions_for(user) -> list[tuple[str, str]]:
    """The bulk actions the user's role may take (each item is still checked on its own)."""
    offered = [
        ("claim", "Claim"),
        ("assign_to", "Assign to"),
        ("reroute", "Re-route to"),
    ]
    role = getattr(user, "role", "")
    return [(key, label) for key, label in offered if role in policy.ACTION_ROLES[key]]


@require_GET
@login_required
def queue_detail(request, slug: str):
    """One queue's referrals: filtered, sorted (due time by default), paged by seek."""
    queue = queue_get_for_user(user=request.user, slug=slug)
    now = timezone.now()
    day_end = qs.end_of_local_day(now, queue.team.timezone)
    bulk = (
        bulk_actions_for(request.user) if policy.member_of_queue_team(request.user, queue) else []
    )
    menus = page_menus(
        user=request.user,
        page=queue.slug,
        team_id=queue.team_id,
        queues=any(key == "reroute" for key, _ in bulk),
    )
    form = QueueFilterForm(request.GET, menus=menus)
    values = form.values()
    size = values.pop("size", DEFAULT_PAGE_SIZE)
    sort = qs.SORTS[values.get("sort", qs.DEFAULT_SORT)]
    referrals, stages = _filtered(
        referral_list_visible_to(user=request.user).filter(queue=queue),
        values,
        user=request.user,
        now=now,
        day_end=day_end,
    )
    after = request.GET.get("after")
    cursor = qs.Cursor.decode(after, sort=sort.key) if after else None
    page, next_cursor = qs.queue_page(
        referrals,
        stages=stages,
        cursor=cursor,
        size=size,
        untimed=not values.get("sla"),
        sort=sort,
    )
    context = _list_context(
        request,
        values=values,
        form=form,
        page=page,
        next_cursor=next_cursor,
        cursor=cursor,
        sorts=tuple(qs.SORTS),
    )
    context.update(
        queue=queue,
        page_key=queue.slug,
        rows=_rows(
            user=request.user, referrals=page, queues={queue.pk: queue}, now=now, menus=menus
        ),
        menus=menus,
        bulk_actions=bulk,
        may_claim=policy.member_of_queue_team(request.user, queue)
        and request.user.role in policy.ACTION_ROLES["claim"],
        checks=_checks_waiting(request.user, queue),
    )
    return render(request, "desk/queue.html", context)


def _checks_waiting(user, queue) -> list:
    """The queue's open manual checks, for those who work its referrals (the team's lead
    workers: the roles that mark checks done); nobody else's page lists them (no query)."""
    if not (
        policy.member_of_queue_team(user, queue) and user.role in policy.ACTION_ROLES["log_contact"]
    ):
        return []
    return qs.queue_open_checks(referral_list_visible_to(user=user), queue=queue)


@require_GET
@login_required
def my_work(request):
    """My work: the user's open referrals in every queue they work, due soonest first; the
    ``assignee=unassigned`` tab lists the unassigned work in those queues instead."""
    queues = {
        queue.pk: queue
        for queue in queue_list_visible_to(user=request.user)
        if policy.member_of_queue_team(request.user, queue)
    }
    now = timezone.now()
    menus = page_menus(user=request.user, page=MY_WORK, team_id=None, queues=False)
    form = QueueFilterForm(request.GET, menus=menus, my_work=True)
    values = form.values()
    size = values.pop("size", DEFAULT_PAGE_SIZE)
    sort = qs.SORTS[values.get("sort", qs.DEFAULT_SORT)]
    unassigned = values.pop("assignee", "") == UNASSIGNED
    # Each tab seeks its own index, per stage (bench/desk_queue.py, 5M referrals):
    # - assigned to me: (assigned_to, stage, due), with no equality on the queue: with one,
    #   SQLite walked the queue's index instead and, in a stage where no row was the user's,
    #   read the whole stage (15 s);
    # - unassigned: the partial (queue, stage, due) index of unassigned rows, one range per
    #   queue of the user's (the assignee index walked every queue's unassigned rows: 34 s).
    referrals = referral_list_visible_to(user=request.user)
    splits = None
    if unassigned:
        referrals = referrals.filter(assigned_to__isnull=True)
        splits = [{"queue_id": queue_id} for queue_id in sorted(queues)]
    else:
        referrals = referrals.filter(assigned_to=request.user)
    # "Due today" is the end of the viewer's day here (rows span teams and zones).
    day_end = qs.end_of_local_day(now, str(user_timezone(request.user)))
    referrals, stages = _filtered(referrals, values, user=request.user, now=now, day_end=day_end)
    after = request.GET.get("after")
    cursor = qs.Cursor.decode(after, sort=sort.key) if after else None
    page, next_cursor = (
        qs.queue_page(
            referrals,
            stages=stages,
            cursor=cursor,
            size=size,
            untimed=not values.get("sla"),
            sort=sort,
            related=("queue", "queue__team"),
            splits=splits,
        )
        if queues
        else ([], None)
    )
    # Work assigned to the user in a queue they only see (a notice's) keeps its own queue.
    row_queues = {referral.queue_id: referral.queue for referral in page} | queues
    context = _list_context(
        request,
        values={**values, "assignee": UNASSIGNED if unassigned else ""},
        form=form,
        page=page,
        next_cursor=next_cursor,
        cursor=cursor,
        sorts=MY_WORK_SORTS,
        not_filters=("sort", "size", "assignee"),  # the tabs
    )
    context.update(
        page_key=MY_WORK,
        unassigned=unassigned,
        has_queues=bool(queues),
        rows=_rows(user=request.user, referrals=page, queues=row_queues, now=now, menus=menus),
        menus=menus,
        may_claim=bool(queues) and request.user.role in policy.ACTION_ROLES["claim"],
        tab_query=urlencode(
            {k: v for k, v in request.GET.items() if k in FILTER_KEYS and k != "assignee"}
        ),
    )
    return render(request, "desk/my_work.html", context)


def back_to_list(queue, query: str) -> str:
    """The queue page (or My work when ``queue`` is None) with the posted filters. Only known
    filter keys go back into the URL: the posted query is user input."""
    incoming = QueryDict(query or "")
    kept = {key: incoming[key] for key in (*FILTER_KEYS, "after") if incoming.get(key)}
    url = reverse("desk:queue", kwargs={"slug": queue.slug}) if queue else reverse("desk:my_work")
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
    back = request.POST.get("back") == MY_WORK
    if request.htmx:
        now = timezone.now()
        referral = referral_get_for_user(user=request.user, public_id=public_id)
        [row] = _rows(user=request.user, referrals=[referral], queues={queue.pk: queue}, now=now)
        context = {
            "row": row,
            # The row as its page lays it out: My work has a queue column and no checkboxes.
            "queue": None if back else queue,
            "bulk_actions": [] if back else bulk_actions_for(request.user),
            "row_error": error,
            "filters_query": request.POST.get("query", ""),
            "page_key": MY_WORK if back else queue.slug,
            "viewer_tz": user_timezone(request.user),
        }
        return render(request, "desk/_queue_row.html", context)
    if error:
        messages.error(request, f"{referral.reference} was not claimed: {error}")
    else:
        messages.success(request, f"You claimed {referral.reference}.")
    return HttpResponseRedirect(
        back_to_list(None if back else queue, request.POST.get("query", ""))
    )
