"""The drug-safety officer's pages: the notice list and one notice (acknowledge, triage).

Thin views: parse -> authorize (``access.selectors``: a notice the user may not work is the same
``Http404`` as one that does not exist) -> one service call (``workflow.safety``) -> render.
Every action is a plain CSRF-protected POST that redirects back with a confirmation
(``django.contrib.messages``); a refused one re-renders the notice page with the error beside
its field and in a focused summary at the top, keeping what was typed. No JavaScript needed.
Times are shown in the viewer's time zone (``accounts.selectors.user_timezone``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.selectors import (
    NOT_FOUND_MESSAGE,
    lead_view,
    notice_get_for_user,
    notice_list_visible_to,
)
from refdesk.accounts.selectors import user_timezone
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.intake.labels import item_label, lead_label
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import AE_TRIAGE, TriageDecision
from refdesk.routing.models import QueueNotice
from refdesk.workflow.safety import (
    CASE_ID_MAX,
    NoticeClocks,
    notice_acknowledge,
    notice_clocks,
    notice_state,
    notice_triage,
)

CLOSED_SHOWN = 100  # the closed list shows the most recent ones; the audit trail has them all


def decision_hints(clocks: NoticeClocks) -> dict[str, str]:
    """Hints under each triage choice (GOV.UK radios with hints)."""
    return {
        TriageDecision.NOT_AE: "Nothing in the report is an adverse event. Closes the notice.",
        TriageDecision.AE_NON_SERIOUS: "An adverse event that is not serious. Needs the case "
        "id. Closes the notice.",
        TriageDecision.AE_SERIOUS: "Death, life-threatening, hospitalisation, disability, birth "
        "defect or medically important. Needs the case id; the expedited report is due "
        f"{clocks.expedited_report_days} calendar days after day 0. Closes the notice.",
        TriageDecision.NEEDS_FOLLOW_UP: "More information is needed before deciding. The "
        "notice stays open for another triage.",
    }


FIELD_IDS = {"decision": f"decision-{TriageDecision.NOT_AE}", "case_id": "case-id", "note": "note"}


def _not_found() -> Http404:
    return Http404(NOT_FOUND_MESSAGE)


def _require_notice_reader(user) -> None:
    if policy.notice_visibility(user) is None:
        raise _not_found()


# --- words for times and states ----------------------------------------------------------------


def _duration(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def _countdown(due: datetime, now: datetime) -> str:
    if now > due:
        return f"overdue by {_duration(now - due)}"
    return f"due in {_duration(due - now)}"


def _person(label: str) -> str:
    return label.partition(":")[2] or label


@dataclass
class NoticeRow:
    notice: QueueNotice
    clocks: NoticeClocks
    state: str
    triage_countdown: str
    triage_overdue: bool
    serious: bool
    expedited_countdown: str
    expedited_overdue: bool


def _row(notice: QueueNotice, now: datetime) -> NoticeRow:
    clocks = notice_clocks(notice)
    is_open = notice.closed_at is None
    serious = notice.triage_decision == TriageDecision.AE_SERIOUS
    return NoticeRow(
        notice=notice,
        clocks=clocks,
        state=notice_state(notice),
        triage_countdown=_countdown(clocks.triage_due_at, now) if is_open else "",
        triage_overdue=is_open and clocks.triage_overdue(now),
        serious=serious,
        expedited_countdown=_countdown(clocks.expedited_due_at, now),
        expedited_overdue=clocks.expedited_overdue(now),
    )


# --- the list ----------------------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def notice_list(request):
    """Open notices first, triage due soonest first (overdue on top); or the closed ones."""
    user = request.user
    _require_notice_reader(user)
    show = "closed" if request.GET.get("show") == "closed" else "open"
    notices = notice_list_visible_to(user=user).select_related(
        "queue", "referral", "referral__program", "referral__program_version"
    )
    now = timezone.now()
    if show == "open":
        # Open notices are few (a day's possible adverse events): the due time depends on each
        # referral's program version, so they are ordered here rather than in SQL.
        rows = [_row(n, now) for n in notices.filter(closed_at__isnull=True)]
        rows.sort(key=lambda row: (row.clocks.triage_due_at, row.notice.pk))
    else:
        closed = notices.filter(closed_at__isnull=False).order_by("-closed_at", "-pk")
        rows = [_row(n, now) for n in closed[:CLOSED_SHOWN]]
    context = {
        "rows": rows,
        "show": show,
        "closed_shown": CLOSED_SHOWN,
        "viewer_tz": user_timezone(user),
        "overdue_count": sum(1 for row in rows if row.triage_overdue),
    }
    return TemplateResponse(request, "desk/safety_notices.html", context)


# --- one notice --------------------------------------------------------------------------------


def _flagged_answer_ids(condition: Any) -> list[str]:
    """The answers an alert's condition reads (``answers.<id>``), in order, without repeats."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and key.startswith("answers."):
                    found.append(key.partition(".")[2])
                walk(value)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)

    walk(condition)
    return list(dict.fromkeys(found))


def _flagged_text(definition, notice: QueueNotice, lead: dict) -> list[tuple[str, Any]]:
    """(label, value) of the free text that raised the notice, as ``lead_view`` allows it."""
    ids: list[str] = []
    for alert in definition.alerts:
        if alert.id == notice.reason:
            ids = _flagged_answer_ids(alert.when)
    if not ids:  # sent by a route, or the alert is gone: every text answer
        ids = [key for key, spec in definition.intake.answers.items() if spec.type == "text"]
    answers = lead["answers"]
    return [
        (item_label(definition, f"answers.{key}"), answers[key]) for key in ids if key in answers
    ]


LEAD_SHOWN = ("given_name", "family_name", "name", "organization", "birth_year", "email",
              "phone", "npi", "specialty", "timezone", "country")  # fmt: skip


def _page_context(request, notice: QueueNotice, **extra) -> dict:
    user = request.user
    referral = notice.referral
    definition = version_definition(referral.program_version)
    lead = lead_view(user=user, referral=referral, purpose="safety_notice")
    if lead is None:  # the policy and the notice disagree: treat as not found
        raise _not_found()
    now = timezone.now()
    row = _row(notice, now)
    hints = decision_hints(row.clocks)
    typed = extra.pop("typed", None) or {
        "decision": "",
        "case_id": notice.case_id,
        "note": "",
    }
    fields = lead["fields"]
    context = {
        "notice": notice,
        "referral": referral,
        "program_name": referral.program.name,
        "row": row,
        "viewer_tz": user_timezone(user),
        "lead": lead,
        "lead_fields": [
            (lead_label(definition, key), fields[key])
            for key in LEAD_SHOWN
            if fields.get(key) not in (None, "")
        ],
        "flagged": _flagged_text(definition, notice, lead),
        "is_open": notice.closed_at is None,
        "may_acknowledge": notice.acknowledged_at is None
        and notice.closed_at is None
        and policy.has_perm(user, "notice.acknowledge", notice),
        "may_triage": notice.closed_at is None and policy.has_perm(user, "notice.triage", notice),
        "acknowledged_by": _person(notice.acknowledged_by),
        "triaged_by": _person(notice.triaged_by),
        "decision_label": (
            TriageDecision(notice.triage_decision).label if notice.triage_decision else ""
        ),
        "decisions": [(choice.value, choice.label, hints[choice]) for choice in TriageDecision],
        "reporter": {
            "name": referral.referrer.name,
            "organization": referral.referrer.organization,
            "email": referral.referrer.email,
            "source": definition.sources[referral.source.slug].label
            if referral.source.slug in definition.sources
            else referral.source.slug,
        },
        "ae_decisions": sorted(AE_TRIAGE),
        "case_id_max": CASE_ID_MAX,
        "typed": typed,
        "field_errors": {},
        "error_summary": [],
        "referral_url": reverse("desk:referral_detail", kwargs={"public_id": referral.public_id}),
    }
    context.update(extra)
    return context


def _render_notice(request, notice: QueueNotice, *, status: int = 200, **extra):
    context = _page_context(request, notice, **extra)
    return TemplateResponse(request, "desk/safety_notice.html", context, status=status)


@login_required
@require_GET
@never_cache
def notice_detail(request, public_id):
    notice = notice_get_for_user(user=request.user, public_id=public_id)
    return _render_notice(request, notice)


def _notice_url(notice: QueueNotice) -> str:
    return reverse("desk:safety_notice", kwargs={"public_id": notice.public_id})


def _refused(request, notice: QueueNotice, error: ApplicationError, **extra):
    """Re-render the page with a business failure in the summary (409/400), nothing changed."""
    fresh = notice_get_for_user(user=request.user, public_id=notice.public_id)
    summary = [{"field": None, "href": None, "message": error.message}]
    return _render_notice(request, fresh, status=error.status, error_summary=summary, **extra)


@login_required
@require_POST
@never_cache
def notice_acknowledge_view(request, public_id):
    notice = notice_get_for_user(user=request.user, public_id=public_id)
    try:
        notice_acknowledge(notice=notice, user=request.user)
    except ApplicationError as error:
        if error.status == 404:
            raise _not_found() from None
        return _refused(request, notice, error)
    messages.success(request, f"Notice for referral {notice.referral.reference} acknowledged.")
    return redirect(_notice_url(notice))


@login_required
@require_POST
@never_cache
def notice_triage_view(request, public_id):
    notice = notice_get_for_user(user=request.user, public_id=public_id)
    typed = {
        "decision": request.POST.get("decision", "").strip(),
        "case_id": request.POST.get("case_id", "").strip(),
        "note": request.POST.get("note", ""),
    }
    try:
        notice_triage(
            notice=notice,
            user=request.user,
            decision=typed["decision"],
            case_id=typed["case_id"],
            note=typed["note"],
        )
    except ValidationFailed as failed:
        field_errors = {error["field"]: error["message"] for error in failed.errors}
        summary = [
            {"field": e["field"], "href": f"#{FIELD_IDS[e['field']]}", "message": e["message"]}
            for e in failed.errors
        ]
        return _render_notice(
            request,
            notice,
            status=failed.status,
            typed=typed,
            field_errors=field_errors,
            error_summary=summary,
        )
    except ApplicationError as error:
        if error.status == 404:
            raise _not_found() from None
        return _refused(request, notice, error, typed=typed)
    decision = TriageDecision(typed["decision"]).label
    if notice.closed_at is not None:
        text = f"Notice for referral {notice.referral.reference} triaged ({decision}) and closed."
    else:
        text = (
            f"Notice for referral {notice.referral.reference} triaged ({decision}); "
            "it stays open for follow-up."
        )
    messages.success(request, text)
    return redirect(_notice_url(notice))
