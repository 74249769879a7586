"""Approved content on the console: the templates and materials of the programs a user may read,
one version (its wording, approval history and the other versions), approving and retiring it;
and the development outbox (outreach messages as rendered).

Thin views: parse -> authorize (a program or version the user may not read is the same
``Http404`` as one that does not exist) -> one service (``outreach.services``) -> render. A
refused action re-renders the version's page with a focused error summary (400), keeping what
was typed; nothing is changed. Plain forms: no JavaScript needed. Times are shown in the
viewer's time zone. Content is wording, not patient data; the outbox's message text is, and is
shown only where the viewer sees the lead (audited like any display of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
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
    lead_names_for_visible,
    program_list_content_visible_to,
    referral_list_visible_to,
)
from refdesk.accounts.selectors import user_timezone
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import actor_label
from refdesk.core.errors import ApplicationError
from refdesk.core.text import INVALID_CHARACTERS, text_check
from refdesk.intake.labels import CHANNEL_LABELS
from refdesk.outreach.choices import ApprovalState, ContentKind
from refdesk.outreach.models import ContentVersion, Message
from refdesk.outreach.services import content_approve, content_retire
from refdesk.programs.models import Program
from refdesk.workflow.content import (
    Expiry,
    content_get_for_user,
    content_history,
    content_list_visible_to,
    content_siblings,
    expiry_of,
    warn_days,
)

NOTE_MAX = 1000  # the approval note and the retirement reason (kept in the audit trail)
OUTBOX_SIZE = 100


def _not_found() -> Http404:
    return Http404(NOT_FOUND_MESSAGE)


def person(label: str) -> str:
    """An actor label as people read it: ``user:rui`` -> ``rui``; ``system:x`` stays."""
    kind, _, name = label.partition(":")
    return name if kind == "user" and name else label


# --- the list ----------------------------------------------------------------------------------


@dataclass
class ContentRow:
    content: ContentVersion
    expiry: Expiry
    in_force: bool
    author: str


@dataclass
class ProgramContent:
    program: Program
    rows: list[ContentRow]
    warn_days: int


def _row(content: ContentVersion, *, now: datetime, warn: int) -> ContentRow:
    expiry = expiry_of(content, now=now, warn=warn)
    return ContentRow(
        content=content,
        expiry=expiry,
        in_force=content.state == ApprovalState.APPROVED and not expiry.expired,
        author=person(content.author),
    )


@login_required
@require_GET
@never_cache
def content_list(request):
    """Per program the user may read, its templates then materials, by key, newest version
    first; retired versions only when asked for (``?show=all``). Four queries whatever the
    number of programs and versions."""
    user = request.user
    if policy.program_content_visibility(user) is None:
        raise _not_found()
    show_all = request.GET.get("show") == "all"
    programs = list(program_list_content_visible_to(user=user).select_related("active_version"))
    if not programs and user.role not in policy.CONTENT_READ_ALL_ROLES:
        raise _not_found()  # in teams that own no program: nothing here is theirs
    versions = content_list_visible_to(user=user).order_by(
        "program_id", "kind", "key", "language", "-created_at", "-id"
    )
    if not show_all:
        versions = versions.exclude(state=ApprovalState.RETIRED)
    now = timezone.now()
    by_program: dict[int, list[ContentVersion]] = {}
    for version in versions:
        by_program.setdefault(version.program_id, []).append(version)
    sections = []
    for program in programs:
        warn = warn_days(program)
        rows = by_program.get(program.pk, [])
        rows.sort(key=lambda v: v.kind != ContentKind.TEMPLATE)  # templates first (stable)
        sections.append(
            ProgramContent(
                program=program,
                rows=[_row(version, now=now, warn=warn) for version in rows],
                warn_days=warn,
            )
        )
    context = {
        "sections": sections,
        "show_all": show_all,
        "viewer_tz": user_timezone(user),
        "drafts": sum(
            1 for s in sections for r in s.rows if r.content.state == ApprovalState.DRAFT
        ),
    }
    return TemplateResponse(request, "desk/content/list.html", context)


# --- one version -------------------------------------------------------------------------------

HISTORY_WORDS = {
    "content.drafted": "Recorded as a draft from the program file",
    "content.approved": "Approved",
    "content.retired": "Retired",
    "content.expiry_warned": "Owners warned that the approval ends soon",
}


@dataclass
class HistoryEntry:
    at: datetime
    who: str
    what: str
    note: str
    ends: datetime | None


def _history(events: list[AuditEvent]) -> list[HistoryEntry]:
    entries = []
    for event in events:
        ends = None
        if event.action == "content.approved":
            new = (event.changes.get("expires_at") or {}).get("new")
            ends = datetime.fromisoformat(new) if new else None
        entries.append(
            HistoryEntry(
                at=event.occurred_at,
                who=person(event.actor),
                what=HISTORY_WORDS.get(event.action, event.action),
                note=event.reason,
                ends=ends,
            )
        )
    return entries


def _channels(definition: dict) -> list[dict]:
    """[{"label", "subject", "body"}] of a template's wording, in the file's order."""
    channels = []
    for channel, wording in (definition.get("channels") or {}).items():
        wording = wording or {}
        channels.append(
            {
                "id": channel,
                "label": CHANNEL_LABELS.get(channel, channel.replace("_", " ").capitalize()),
                "subject": wording.get("subject") or "",
                "body": wording.get("body") or "",
            }
        )
    return channels


def _web_address(url) -> str:
    """A material's address as a link only when it is a web address (never ``javascript:``)."""
    url = str(url or "")
    return url if url.startswith(("https://", "http://")) else ""


FIELD_IDS = {"note": "approve-note", "reason": "retire-reason"}


def _page_context(request, content: ContentVersion, **extra) -> dict:
    user = request.user
    program = content.program
    now = timezone.now()
    warn = warn_days(program)
    row = _row(content, now=now, warn=warn)
    is_author = actor_label(user) == content.author
    may_approve = (
        content.state == ApprovalState.DRAFT
        and not is_author
        and policy.has_perm(user, "content.approve", program)
    )
    may_retire = content.state != ApprovalState.RETIRED and policy.has_perm(
        user, "content.retire", program
    )
    definition = content.definition or {}
    context = {
        "content": content,
        "program": program,
        "row": row,
        "definition": definition,
        "is_template": content.kind == ContentKind.TEMPLATE,
        "channels": _channels(definition),
        "request_types": definition.get("request_types") or [],
        "therapy_areas": definition.get("therapy_areas") or [],
        "material_url": _web_address(definition.get("url")),
        "history": _history(content_history(content)),
        "siblings": [_row(other, now=now, warn=warn) for other in content_siblings(content)],
        "may_approve": may_approve,
        "may_retire": may_retire,
        "author_blocked": content.state == ApprovalState.DRAFT
        and is_author
        and policy.has_perm(user, "content.approve", program),
        "note_max": NOTE_MAX,
        "typed": {"note": "", "reason": ""},
        "field_errors": {},
        "error_summary": [],
        "viewer_tz": user_timezone(user),
    }
    context.update(extra)
    return context


def _render(request, content: ContentVersion, *, status: int = 200, **extra):
    context = _page_context(request, content, **extra)
    return TemplateResponse(request, "desk/content/detail.html", context, status=status)


@login_required
@require_GET
@never_cache
def content_detail(request, public_id):
    content = content_get_for_user(user=request.user, public_id=public_id)
    return _render(request, content)


def _detail_url(content: ContentVersion) -> str:
    return reverse("desk:content_detail", kwargs={"public_id": content.public_id})


def _refused(request, content, error: ApplicationError, *, field: str | None = None, typed=None):
    """The page again, fresh, with the failure in a focused summary (and beside its field)."""
    if error.status == 404:
        raise _not_found()
    fresh = content_get_for_user(user=request.user, public_id=content.public_id)
    href = f"#{FIELD_IDS[field]}" if field else None
    message = error.message[:1].upper() + error.message[1:] + "."
    return _render(
        request,
        fresh,
        status=error.status if error.status in (400, 409, 422) else 400,
        error_summary=[{"href": href, "message": message}],
        field_errors={field: message} if field else {},
        typed={"note": "", "reason": "", **(typed or {})},
    )


def _typed_problem(text: str, what: str) -> ApplicationError | None:
    """What is wrong with a typed note or reason: the text rule (refdesk.core.text), length."""
    _normalised, problem = text_check(text, multiline=True)
    if problem is not None:
        return ApplicationError(
            problem.message_about(f"The {what}"), code=INVALID_CHARACTERS, field=what
        )
    if len(text) > NOTE_MAX:
        return ApplicationError(f"the {what} is too long: at most {NOTE_MAX} characters")
    return None


@login_required
@require_POST
@never_cache
def content_approve_view(request, public_id):
    content = content_get_for_user(user=request.user, public_id=public_id)
    note = request.POST.get("note", "").strip()
    typed = {"note": note}
    if not policy.has_perm(request.user, "content.approve", content.program):
        error = ApplicationError(
            "only a medical reviewer or the program owner may approve content",
            code="not_an_approver",
        )
        return _refused(request, content, error, typed=typed)
    if (error := _typed_problem(note, "note")) is not None:
        return _refused(request, content, error, field="note", typed=typed)
    try:
        content_approve(content=content, approver=request.user, note=note)
    except ApplicationError as error:
        return _refused(request, content, error, typed=typed)
    ends = timezone.localtime(content.expires_at, user_timezone(request.user))
    messages.success(
        request,
        f"{content.title} v{content.version} approved; the approval ends on {ends:%d %b %Y}.",
    )
    return redirect(_detail_url(content))


@login_required
@require_POST
@never_cache
def content_retire_view(request, public_id):
    content = content_get_for_user(user=request.user, public_id=public_id)
    reason = request.POST.get("reason", "").strip()
    typed = {"reason": reason}
    if not policy.has_perm(request.user, "content.retire", content.program):
        error = ApplicationError(
            "only a medical reviewer or the program owner may retire content",
            code="not_permitted",
        )
        return _refused(request, content, error, typed=typed)
    if not reason:
        error = ApplicationError("give the reason for retiring it", code="reason_required")
        return _refused(request, content, error, field="reason", typed=typed)
    if (error := _typed_problem(reason, "reason")) is not None:
        return _refused(request, content, error, field="reason", typed=typed)
    try:
        content_retire(content=content, actor=request.user, reason=reason)
    except ApplicationError as error:
        field = "reason" if error.code == "reason_required" else None
        return _refused(request, content, error, field=field, typed=typed)
    messages.success(request, f"{content.title} v{content.version} retired; it is never sent.")
    return redirect(_detail_url(content))


# --- the development outbox ----------------------------------------------------------------------


@login_required
@require_GET
@never_cache
def outbox(request):
    """The latest messages of referrals the user may see, as rendered (development only)."""
    user = request.user
    if not settings.REFDESK_OUTBOX or not policy.has_perm(user, "outbox.view"):
        raise _not_found()
    shows_text = policy.sees_lead_of_visible_referrals(user)
    rows = (
        Message.objects.filter(referral__in=referral_list_visible_to(user=user).values("pk"))
        .select_related("referral", "referral__program", "template")
        .order_by("-created_at", "-id")
    )
    if not shows_text:
        rows = rows.defer("recipient", "subject", "body")
    rows = list(rows[:OUTBOX_SIZE])
    if shows_text:
        # The text names the lead: audited as a display of patient data, one batch.
        referrals = list({row.referral_id: row.referral for row in rows}.values())
        lead_names_for_visible(user=user, referrals=referrals, purpose="outbox")
    context = {
        "rows": rows,
        "shows_text": shows_text,
        "outbox_size": OUTBOX_SIZE,
        "viewer_tz": user_timezone(user),
    }
    return TemplateResponse(request, "desk/outbox.html", context)
