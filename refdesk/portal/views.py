"""Public intake pages: the form ``/r/<code>``, its confirmation and the completion link.

Thin views: parse -> look up the referrer -> one service call -> render. No login: the referral
code is the referrer's identity, rate limits keep the pages from being hammered, and the pages
after a submission are reached only through signed links. Nothing patient-related goes into a
URL, a page title or a log line; pages holding typed-in values are never cached.
"""

from __future__ import annotations

import functools
import logging

from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_safe

from refdesk.core.errors import (
    ApplicationError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from refdesk.core.ratelimit import RateLimited, client_address, limit_from_settings, rate_limit_hit
from refdesk.core.references import parse_referrer_code
from refdesk.intake.choices import Outcome
from refdesk.intake.labels import item_label, latest_consent_text
from refdesk.intake.links import (
    LinkExpired,
    completion_token,
    completion_token_read,
    status_token_read,
    status_url,
    thanks_token,
    thanks_token_read,
)
from refdesk.intake.models import Referral
from refdesk.intake.rejections import rejections_record
from refdesk.intake.selectors import referrer_status
from refdesk.intake.submissions import UTM_FIELDS
from refdesk.portal.forms import CompletionForm, IntakeForm
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.referrers.services import referrer_get_by_code
from refdesk.workflow.submission import referral_complete, referral_submit
from refdesk.workflow.transitions import action_possible

logger = logging.getLogger(__name__)

# Submissions (and lookups of unknown codes) per minute from one client address; page views
# are not counted.
ADDRESS_LIMIT = (20, 60)
CODE_LIMIT = (60, 60)  # submissions per minute for one referral code, from anywhere

DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


def business_hours_in_words(definition: ProgramDefinition) -> str:
    """E.g. "Monday–Friday 09:00–17:00 America/New_York, except public holidays"."""
    hours = definition.business_hours
    order = list(DAY_NAMES)
    positions = sorted(order.index(day) for day in hours.days)
    if len(positions) > 2 and positions == list(range(positions[0], positions[-1] + 1)):
        days = f"{DAY_NAMES[order[positions[0]]]}–{DAY_NAMES[order[positions[-1]]]}"
    else:
        days = ", ".join(DAY_NAMES[order[p]] for p in positions)
    words = f"{days} {hours.start}–{hours.end} {definition.business_timezone()}"
    return words + (", except public holidays" if hours.holidays else "")


def sla_in_words(definition: ProgramDefinition) -> str:
    """E.g. "within 2 business days, Monday–Friday 09:00–17:00 America/New_York"."""
    promise = definition.sla.first_response
    if promise.business_days is not None:
        amount, unit = promise.business_days, "business day"
    else:
        amount, unit = promise.business_hours, "business hour"
    plural = "s" if amount != 1 else ""
    return f"within {amount} {unit}{plural}, {business_hours_in_words(definition)}"


def _message(request, title: str, message: str, *, status: int):
    return render(
        request, "intake/message.html", {"title": title, "message": message}, status=status
    )


def _not_found(request):
    return _message(
        request,
        "Referral link not found",
        "We could not find an active referral link for this code. Check the link or code you "
        "were given (codes are 7 characters, such as K7Q3M9X), or ask the program team for a "
        "new one.",
        status=404,
    )


def _limited(request, limited: RateLimited, code: str):
    """The friendly page for a submission over the limit: what happened, that nothing was sent,
    when to try again and how. Status 429 with Retry-After, for browsers and scripts alike."""
    seconds = max(1, int(limited.retry_after))
    wait = "a minute" if seconds > 45 else f"{seconds} seconds"
    logger.warning("intake rate limit reached (code %r)", code[:12])
    response = render(
        request,
        "intake/limited.html",
        {"wait": wait, "seconds": seconds, "form_url": request.path},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def _guarded(view):
    """Rate-limit submissions; render expected failures as friendly pages, never 500s.

    Only submissions (POST) count: reading a form, a confirmation or a status page costs a
    referrer nothing, so someone filling in several referrals is never stopped by the pages
    they read. One exception keeps codes from being guessed: a lookup that finds no active
    referral link counts against the client address like a submission.
    """

    @functools.wraps(view)
    def wrapper(request, code, *args, **kwargs):
        try:
            if request.method == "POST":
                rate_limit_hit(
                    rule=limit_from_settings("intake.address", ADDRESS_LIMIT),
                    key=client_address(request),
                )
                rate_limit_hit(rule=limit_from_settings("intake.code", CODE_LIMIT), key=code)
            try:
                return view(request, code, *args, **kwargs)
            except NotFound:
                if request.method != "POST":
                    rate_limit_hit(
                        rule=limit_from_settings("intake.address", ADDRESS_LIMIT),
                        key=client_address(request),
                    )
                raise
        except RateLimited as limited:
            return _limited(request, limited, code)
        except NotFound:
            return _not_found(request)
        except ApplicationError as problem:  # e.g. the program was retired meanwhile
            return _message(
                request,
                "This referral could not be accepted",
                problem.message,
                status=problem.status,
            )

    return wrapper


def _web_referrer(code: str):
    """The active referrer whose source takes web referrals, with its program definition."""
    referrer = referrer_get_by_code(code=code)
    version = referrer.source.program.active_version
    if not referrer.active or not referrer.source.active or version is None:
        raise NotFound("inactive referral code")
    definition = version_definition(version)
    source = definition.sources.get(referrer.source.slug)
    if source is None or "web" not in source.submission_methods:
        raise NotFound("this code is not for web referrals")
    return referrer, definition


def _intake_context(referrer, definition, form):
    return {
        "referrer": referrer,
        "program": definition,
        "source": definition.sources[referrer.source.slug],
        "form": form,
        "specialties": definition.target.specialties,
        "consent_text": form.consent_text,
        "sla": sla_in_words(definition),
        "business_hours": business_hours_in_words(definition),
    }


@never_cache
@csrf_protect
@_guarded
def intake(request, code):
    referrer, definition = _web_referrer(code)
    consent_text = latest_consent_text(definition, timezone.localdate())
    form_kwargs = {
        "definition": definition,
        "source_slug": referrer.source.slug,
        "consent_text": consent_text,
        "referrer": referrer,
    }
    if request.method != "POST":
        initial = {key: request.GET.get(key, "")[:100] for key in UTM_FIELDS}
        form = IntakeForm(initial=initial, **form_kwargs)
        return render(request, "intake/form.html", _intake_context(referrer, definition, form))

    form = IntakeForm(request.POST, **form_kwargs)
    if form.is_bot:
        # Look like success so the bot learns nothing; write nothing.
        logger.info("intake honeypot filled (code %s); submission discarded", referrer.code)
        return render(request, "intake/thanks.html", _thanks_context(referrer, definition, None))
    if form.is_valid():
        try:
            result = referral_submit(
                referrer=referrer,
                submission=form.to_submission(),
                method="web",
                actor=referrer,
            )
        except ValidationFailed as failed:
            form.apply_errors(failed.errors)
        except PermissionDenied:
            raise NotFound("referrer no longer active") from None
        else:
            referral = result.referral
            return redirect("intake:thanks", code=referrer.code, token=thanks_token(referral))
    # Refused for its content: counted (after the submission's rolled-back transaction), and
    # the page shows the errors.
    rejections_record(referrer=referrer, method="web", errors=form.rejection_errors())
    return render(request, "intake/form.html", _intake_context(referrer, definition, form))


def _thanks_context(referrer, definition, referral: Referral | None):
    missing = []
    complete_url = ""
    if referral is not None and action_possible(referral, "supply_info"):
        missing = [item_label(definition, item) for item in referral.missing]
        complete_url = reverse(
            "intake:complete",
            kwargs={"code": referrer.code, "token": completion_token(referral)},
        )
    return {
        "referrer": referrer,
        "program": definition,
        "source": definition.sources[referrer.source.slug],
        "team": definition.teams[definition.owner.team].name,
        "referral": referral,
        "duplicate": referral is not None and referral.outcome == Outcome.DUPLICATE,
        "missing": missing,
        "complete_url": complete_url,
        "sla": sla_in_words(definition),
        # The referrer's own signed link to follow the status (never the lead's data).
        "status_url": status_url(referral) if referral is not None else "",
    }


def _referral_for(referrer, public_id) -> Referral:
    referral = Referral.objects.filter(public_id=public_id, referrer=referrer).first()
    if referral is None:
        raise NotFound("no such referral for this code")
    return referral


@never_cache
@_guarded
def thanks(request, code, token):
    referrer = referrer_get_by_code(code=code)
    try:
        referral = _referral_for(referrer, thanks_token_read(token))
    except LinkExpired:
        return _message(
            request,
            "This confirmation has expired",
            "Confirmation pages are kept for 30 days. Your referral is still with the team; "
            "quote its reference from the acknowledgement if you contact them.",
            status=410,
        )
    definition = version_definition(referral.program_version)
    return render(request, "intake/thanks.html", _thanks_context(referrer, definition, referral))


@never_cache
@csrf_protect
@_guarded
def complete(request, code, token):
    referrer = referrer_get_by_code(code=code)
    try:
        referral = _referral_for(referrer, completion_token_read(token))
    except LinkExpired:
        return _message(
            request,
            "This link has expired",
            "Links to add missing information are valid for a limited time. Please contact the "
            "program team, quoting the referral reference from their email, for a new link.",
            status=410,
        )
    definition = version_definition(referral.program_version)
    if not action_possible(referral, "supply_info"):
        return _message(request, "Nothing more is needed", _NOTHING_NEEDED, status=200)
    form = CompletionForm(
        request.POST if request.method == "POST" else None,
        definition=definition,
        missing=list(referral.missing),
    )
    if request.method == "POST" and form.is_valid():
        lead_updates, answer_updates = form.to_updates()
        try:
            with transaction.atomic():
                referral = referral_complete(
                    referral=referral,
                    lead_updates=lead_updates,
                    answer_updates=answer_updates,
                    actor=referrer,
                )
        except ValidationFailed as failed:
            form.apply_errors(failed.errors)
        except InvalidTransition:
            return _message(request, "Nothing more is needed", _NOTHING_NEEDED, status=200)
        except ApplicationError as problem:
            form.add_error(None, problem.message)
        else:
            return redirect("intake:thanks", code=referrer.code, token=thanks_token(referral))
    context = {
        "referrer": referrer,
        "program": definition,
        "referral": referral,
        "form": form,
        "specialties": definition.target.specialties,
    }
    return render(request, "intake/complete.html", context)


_NOTHING_NEEDED = (
    "This referral is no longer waiting for information, so there is nothing to add. Thank you; "
    "the team will be in touch as described on the confirmation page."
)


@require_GET
def referral_status(request, token: str):
    """The referrer's status page ``/r/status/<token>``: a bad token and an unknown referral
    look the same."""
    public_id = status_token_read(token)
    referral = (
        Referral.objects.select_related("program").filter(public_id=public_id).first()
        if public_id
        else None
    )
    if referral is None:
        raise Http404("not found")
    response = render(request, "intake/status.html", {"status": referrer_status(referral)})
    # The token is a capability: keep it out of other sites' logs and out of shared caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
def front_door(request):
    """``/``: where staff sign in and referrers learn how to get a referral link. Referral links
    are sent by each program team to the referrers it approves; no list of them is public, and
    this page names no program, referrer or code."""
    return render(request, "portal/front_door.html", {"code_error": ""})


@require_safe
def start_with_code(request):
    """``/r/?code=K7Q3M9X``: the front door's "I have a code" box, sent on to the form.

    A code that cannot be one (its check character says so) gets the front door back with the
    message next to the box; a well-formed code goes to ``/r/<code>``, which answers (and
    counts, against guessing) codes that belong to no active referrer.
    """
    typed = request.GET.get("code", "")[:200]
    # A whole link pasted in the box works too: the code is its last part.
    code = parse_referrer_code(typed.strip().rstrip("/").rsplit("/", 1)[-1].split("?")[0])
    if code:
        return redirect("intake:form", code=code)
    message = (
        "Enter the referral code from your link: the 7 letters and digits at its end, "
        "such as K7Q3M9X."
    )
    return render(request, "portal/front_door.html", {"code_error": message, "typed": typed})
