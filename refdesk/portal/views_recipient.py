"""Pages for the people refdesk writes to: the materials sent with a message, and unsubscribing
from emails. No login: each page is reached through a signed link printed in the message
(``refdesk.outreach.links``), which carries only the message's public id.

The pages show no patient data at all (no name, no reference, no condition): a link may be
forwarded or opened on a shared screen. Tokens are capabilities: the responses are never cached
and never leak the link to the sites they link to (Referrer-Policy: no-referrer).

The unsubscribe page takes a POST without a CSRF token, on purpose: mail clients' one-click
unsubscribe (RFC 8058, ``List-Unsubscribe-Post``) posts to the link directly, and the unguessable
token is what authorises the request. Unsubscribing twice says the same thing twice.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from refdesk.core.errors import ApplicationError
from refdesk.core.ratelimit import RateLimited, client_address, limit_from_settings, rate_limit_hit
from refdesk.intake.models import Referral
from refdesk.outreach.booking_links import read_booking_token
from refdesk.outreach.choices import ContentKind
from refdesk.outreach.links import read_materials_token, read_unsubscribe_token
from refdesk.outreach.models import Message
from refdesk.workflow.callbacks import CALL_TIMES, callback_request
from refdesk.workflow.delivery import message_unsubscribe

# Unsubscribe requests per minute from one client address.
UNSUBSCRIBE_LIMIT = (20, 60)


def _private(response):
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def _link_not_found(request):
    """An expired, altered or unknown link: the same friendly page for each."""
    return _private(
        render(
            request,
            "recipient/link_not_found.html",
            {"title": "This link has expired or is not valid"},
            status=404,
        )
    )


def _message(public_id) -> Message | None:
    if public_id is None:
        return None
    return Message.objects.select_related("referral__program").filter(public_id=public_id).first()


@require_safe
def materials(request, token: str):
    """``/m/<token>``: the approved materials recorded on that message, each with its version
    (exactly those sent, even if newer versions were approved since)."""
    message = _message(read_materials_token(token))
    if message is None:
        return _link_not_found(request)
    rows = message.materials.filter(kind=ContentKind.MATERIAL).order_by("key", "language")
    items = [
        {
            "title": row.title,
            "kind": row.definition.get("kind", "document"),
            "url": row.definition.get("url", ""),
            "version": row.version,
            "language": row.language,
        }
        for row in rows
    ]
    context = {"program": message.referral.program.name, "items": items}
    return _private(render(request, "recipient/materials.html", context))


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    """``/unsubscribe/<token>``: GET asks to confirm; POST withdraws email from the consent for
    that message's referral (``message_unsubscribe``) and says no more emails will come."""
    message = _message(read_unsubscribe_token(token))
    if message is None:
        return _link_not_found(request)
    context = {"program": message.referral.program.name}
    if request.method != "POST":
        return _private(render(request, "recipient/unsubscribe.html", context))
    try:
        rate_limit_hit(
            rule=limit_from_settings("recipient.address", UNSUBSCRIBE_LIMIT),
            key=client_address(request),
        )
    except RateLimited as limited:
        response = render(
            request, "recipient/unsubscribe.html", {**context, "busy": True}, status=429
        )
        response["Retry-After"] = str(max(1, int(limited.retry_after)))
        return _private(response)
    message_unsubscribe(message=message)
    return _private(render(request, "recipient/unsubscribed.html", context))


@require_http_methods(["GET", "HEAD", "POST"])
def book(request, token: str):
    """``/book/<token>`` ({links.reschedule}): until online booking exists, the lead asks for a
    call back at a time of day that suits them (``callback_request``). No patient data shown."""
    public_id = read_booking_token(token)
    referral = (
        Referral.objects.select_related("program").filter(public_id=public_id).first()
        if public_id
        else None
    )
    if referral is None:
        return _link_not_found(request)
    context = {"program": referral.program.name, "times": list(CALL_TIMES.items())}
    if request.method != "POST":
        return _private(render(request, "recipient/book.html", context))
    try:
        rate_limit_hit(
            rule=limit_from_settings("recipient.address", UNSUBSCRIBE_LIMIT),
            key=client_address(request),
        )
        callback_request(referral=referral, when=request.POST.get("when", ""))
    except RateLimited as limited:
        response = render(request, "recipient/book.html", {**context, "busy": True}, status=429)
        response["Retry-After"] = str(max(1, int(limited.retry_after)))
        return _private(response)
    except ApplicationError as error:
        errors = getattr(error, "errors", None)
        context["error"] = errors[0]["message"] if errors else error.message
        return _private(render(request, "recipient/book.html", context, status=400))
    chosen = CALL_TIMES[request.POST["when"]].lower()
    return _private(render(request, "recipient/booked.html", {**context, "chosen": chosen}))
