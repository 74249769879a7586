"""The auditor's pages under /desk/audit/: search the trail, a referral's full history (who
viewed it included), verify the chain as a background run with its progress, and export the
listed events as a signed extract.

For the roles with ``audit.read`` / ``audit.verify`` / ``audit.export`` (the compliance auditor
and the administrator); for everyone else each page is the same ``Http404`` as an unknown one.
Thin views: parse (``desk.audit_trail``) -> authorize -> one selector or service -> render. A
filter the page cannot read comes back as a 400 with the field named; nothing is a 500. The
trail holds keyed fingerprints of patient values, never the values: the pages show each event
as stored, and nothing here decrypts anything.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.selectors import user_timezone
from refdesk.audit.extract import ExtractFilter, audit_extract
from refdesk.audit.selectors import distinct_values
from refdesk.audit.verification import (
    audit_verification_start,
    is_stalled,
    verification_get,
    verification_latest,
)
from refdesk.core.references import parse_referral_reference
from refdesk.desk.audit_trail import (
    FILTER_KEYS,
    TEXT_MAX,
    BadFilter,
    TrailQuery,
    read_filters,
    referral_viewers,
    trail_page,
)
from refdesk.intake.models import Referral

SPOOL_BYTES = 8 * 1024 * 1024  # an extract larger than this is written to a temporary file


def _allowed(user, rule: str) -> None:
    if not policy.has_perm(user, f"audit.{rule}"):
        raise Http404(NOT_FOUND_MESSAGE)


def _action_groups(actions: list[str]) -> list[tuple[str, list[str]]]:
    """[(prefix, its actions)] for the action menu: "every consent. event" above each group."""
    groups: dict[str, list[str]] = defaultdict(list)
    for action in actions:
        groups[action.partition(".")[0]].append(action)
    return sorted(groups.items())


def _search_context(user, *, values: dict[str, str]) -> dict:
    return {
        "viewer_tz": user_timezone(user),
        "values": values,
        "action_groups": _action_groups(distinct_values("action")),
        "subject_types": distinct_values("subject_type"),
        "may_export": policy.has_perm(user, "audit.export"),
        "may_verify": policy.has_perm(user, "audit.verify"),
    }


def _bad_filter(request, error: BadFilter, params, template: str = "desk/audit/search.html"):
    values = {key: (params.get(key) or "").strip()[:TEXT_MAX] for key in FILTER_KEYS}
    context = _search_context(request.user, values=values)
    context |= {"error": str(error), "error_href": f"#{error.field}" if error.field else "#"}
    return TemplateResponse(request, template, context, status=400)


@login_required
@require_GET
@never_cache
def audit_search(request):
    """Events matching the filters, newest first, 50 a page (a bounded number of queries)."""
    user = request.user
    _allowed(user, "read")
    try:
        query = read_filters(request.GET, zone=user_timezone(user))
        page = trail_page(query, request.GET)
    except BadFilter as error:
        return _bad_filter(request, error, request.GET)
    context = _search_context(user, values=query.values)
    context |= {
        "page": page,
        "query_string": query.query_string,
        "filtered": bool(query.query_string),
        "referral": query.referral,
    }
    return TemplateResponse(request, "desk/audit/search.html", context)


def _referral_by_reference(reference: str) -> Referral:
    canonical = parse_referral_reference(reference)
    if canonical is None or canonical != reference:
        raise Http404(NOT_FOUND_MESSAGE)
    referral = Referral.objects.select_related("program").filter(reference=canonical).first()
    if referral is None:
        raise Http404(NOT_FOUND_MESSAGE)
    return referral


@login_required
@require_GET
@never_cache
def audit_referral(request, reference: str):
    """Every event whose subject is the referral — its messages, appointments, consent, notes
    and reviews are recorded with it as subject — reads of its patient data included, and who
    made those reads. Masked: the events hold fingerprints, never the lead's values."""
    user = request.user
    _allowed(user, "read")
    referral = _referral_by_reference(reference)
    query = TrailQuery(
        values={"subject_type": "referral", "subject": referral.reference},
        filters=ExtractFilter(subject_type="referral", subject_id=str(referral.public_id)),
        referral=referral,
    )
    context = {
        "viewer_tz": user_timezone(user),
        "referral": referral,
        "viewers": referral_viewers(referral),
        "values": query.values,
        "query_string": "",
        "may_export": policy.has_perm(user, "audit.export"),
    }
    try:
        context["page"] = trail_page(query, request.GET)
    except BadFilter as error:  # a page link edited by hand
        context |= {"error": str(error), "error_href": "#events-title"}
        return TemplateResponse(request, "desk/audit/referral.html", context, status=400)
    return TemplateResponse(request, "desk/audit/referral.html", context)


@login_required
@require_POST
def audit_export(request):
    """The listed events as a zip: the CSV of ``audit_extract`` and its signature beside it
    (``NAME.csv.sig``), as ``refdesk audit export`` writes them, so ``refdesk audit
    check-export NAME.csv`` checks the unzipped pair. The export audits itself
    (``audit.exported``). Streamed from temporary files: a long extract never sits in memory."""
    user = request.user
    _allowed(user, "export")
    try:
        query = read_filters(request.POST, zone=user_timezone(user))
    except BadFilter as error:
        return _bad_filter(request, error, request.POST)
    stem = f"audit-extract-{timezone.now():%Y%m%d-%H%M%S}"
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as events:
        extract = audit_extract(filters=query.filters, out=events, actor=user)
        events.seek(0)
        archive = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once sent
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            with bundle.open(f"{stem}.csv", "w", force_zip64=True) as member:
                shutil.copyfileobj(events, member)
            bundle.writestr(f"{stem}.csv.sig", extract.signature + "\n")
    archive.seek(0)
    response = FileResponse(
        archive, as_attachment=True, filename=f"{stem}.zip", content_type="application/zip"
    )
    response["Cache-Control"] = "no-store"
    return response


# --- verifying the chain -------------------------------------------------------------------------


def _verification_context(user, run) -> dict:
    return {
        "run": run,
        "stalled": run is not None and is_stalled(run),
        "viewer_tz": user_timezone(user),
        "may_verify": policy.has_perm(user, "audit.verify"),
    }


@login_required
@require_GET
@never_cache
def audit_verify(request):
    """The last verification run (its progress while it runs) and the button to start one."""
    _allowed(request.user, "read")
    context = _verification_context(request.user, verification_latest())
    return TemplateResponse(request, "desk/audit/verify.html", context)


@login_required
@require_POST
def audit_verify_start(request):
    """Start a run (or find the one running) and go back to the page, which shows it."""
    user = request.user
    _allowed(user, "verify")
    started = audit_verification_start(actor=user)
    if started.created:
        messages.success(request, "Verification started: the page shows its progress.")
    else:
        messages.info(request, "A verification is already running; here is its progress.")
    return redirect("desk:audit_verify")


@login_required
@require_GET
@never_cache
def audit_verification(request, public_id):
    """One run's progress (the fragment the page polls while the run is queued or running)."""
    _allowed(request.user, "read")
    run = verification_get(public_id)
    if run is None:
        raise Http404(NOT_FOUND_MESSAGE)
    context = _verification_context(request.user, run)
    return TemplateResponse(request, "desk/audit/_verification.html", context)
