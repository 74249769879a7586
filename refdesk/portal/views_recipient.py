"""Pages for the people refdesk writes to: the materials sent with a message, and unsubscribing
from emails (the lead's booking page is ``views_booking``). No login: each page is reached
through a signed link printed in the message (``refdesk.outreach.links``), which carries only
the message's public id.

The pages show no patient data at all (no name, no reference, no condition): a link may be
forwarded or opened on a shared screen. Tokens are capabilities: the responses are never cached
and never leak the link to the sites they link to (Referrer-Policy: same-origin — not
no-referrer, under which browsers post forms with "Origin: null" and the CSRF check refuses the
lead's booking).

The unsubscribe page takes a POST without a CSRF token, on purpose: mail clients' one-click
unsubscribe (RFC 8058, ``List-Unsubscribe-Post``) posts to the link directly, and the unguessable
token is what authorises the request. Unsubscribing twice says the same thing twice.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from refdesk.core.ratelimit import RateLimited, client_address, limit_from_settings, rate_limit_hit
from refdesk.outreach.choices import ContentKind
from refdesk.outreach.links import read_materials_token, read_unsubscribe_token
from refdesk.outreach.models import Message
from refdesk.workflow.delivery import message_unsubscribe

# Unsubscribe requests per minute from one client address.
UNSUBSCRIBE_LIMIT = (20, 60)


def private(response):
    """A capability URL's response: never cached, never sent on as a referrer to another site
    (same-origin: a form on the page still posts with its real Origin, which CSRF checks)."""
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    return response


def link_not_found(request):
    """An expired, altered or unknown link: the same friendly page for each."""
    return private(
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
        return link_not_found(request)
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
    return private(render(request, "recipient/materials.html", context))


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    """``/unsubscribe/<token>``: GET asks to confirm; POST withdraws email from the consent for
    that message's referral (``message_unsubscribe``) and says no more emails will come."""
    message = _message(read_unsubscribe_token(token))
    if message is None:
        return link_not_found(request)
    context = {"program": message.referral.program.name}
    if request.method != "POST":
        return private(render(request, "recipient/unsubscribe.html", context))
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
        return private(response)
    message_unsubscribe(message=message)
    return private(render(request, "recipient/unsubscribed.html", context))
