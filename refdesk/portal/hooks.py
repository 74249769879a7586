"""Webhooks from message providers: SMS delivery reports, SMS replies (STOP), email events.

No login and no CSRF token: each request is authenticated by its signature instead, checked
before anything is read or written (docs/delivery.md):

- ``POST /hooks/sms/status`` and ``POST /hooks/sms/inbound`` (Twilio): ``X-Twilio-Signature``
  is base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value, sorted by name)).
  The URL is the one the provider called, rebuilt as ``REFDESK_BASE_URL`` + the request's path
  and query string, not from the Host header: behind a reverse proxy or TLS terminator Django
  may see another scheme, host or port than the provider did, and the signature would never
  match. So ``REFDESK_BASE_URL`` must be exactly the public address configured at Twilio.
- ``POST /hooks/email/events`` (an email provider, or a relay translating its events):
  ``X-Refdesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, within
  five minutes of now either way (an old request replayed is refused). The secret is
  ``REFDESK_WEBHOOK_SECRET``, or when unset one derived from ``SECRET_KEY``
  (``webhook_secret()``), so development needs no extra step.

A bad signature answers 403 with a short error (nothing that helps forge one) and a warning in
the log; repeated refusals from one address are rate limited (429). A malformed body answers 400
saying what is wrong. A report about a message refdesk does not know answers 200, so the
provider does not retry it forever. Numbers, addresses and texts are never logged.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from refdesk.core.errors import ApplicationError
from refdesk.core.ratelimit import RateLimited, client_address, limit_from_settings, rate_limit_hit
from refdesk.workflow.delivery import channel_opt_out, message_delivery_record

logger = logging.getLogger(__name__)

# Refused signatures per minute from one address before it is turned away unread.
REFUSED_LIMIT = (30, 60)
# How far a signed timestamp may be from now, either way (seconds).
SIGNATURE_TOLERANCE = 5 * 60
# Twilio's opt-out keywords: a reply made of one of them (any case, spaces trimmed) is a STOP.
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
EMAIL_EVENTS = frozenset({"delivered", "bounced", "failed", "complained"})
MAX_EVENTS = 500
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


class SignatureRefused(Exception):
    """The request is not signed by the provider (the reason goes to the log only)."""


class Malformed(Exception):
    """The body is not what the endpoint takes; the message says what is wrong."""


def webhook_secret() -> str:
    """The email-events signing secret: ``REFDESK_WEBHOOK_SECRET``, else derived from
    ``SECRET_KEY`` (stable while the key is, and unique to this purpose)."""
    configured = getattr(settings, "REFDESK_WEBHOOK_SECRET", "")
    if configured:
        return configured
    return salted_hmac("refdesk.webhooks", "email-events", algorithm="sha256").hexdigest()


def twilio_signature(*, auth_token: str, url: str, params) -> str:
    """Twilio's request signature: base64 HMAC-SHA1 of the URL followed by every parameter's
    name and value, names sorted (a name given twice: each value, sorted)."""
    data = url
    for name in sorted(set(params.keys())):
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        for value in sorted(values):
            data += f"{name}{value}"
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _twilio_check(request) -> None:
    token = getattr(settings, "REFDESK_TWILIO_AUTH_TOKEN", "")
    if not token:
        raise SignatureRefused("no Twilio auth token configured")
    given = request.headers.get("X-Twilio-Signature", "")
    if not given:
        raise SignatureRefused("no X-Twilio-Signature")
    url = f"{settings.REFDESK_BASE_URL}{request.get_full_path()}"
    expected = twilio_signature(auth_token=token, url=url, params=request.POST)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureRefused("X-Twilio-Signature does not match")


def refdesk_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``: the ``v1`` of X-Refdesk-Signature."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _refdesk_check(request, *, now: float | None = None) -> None:
    header = request.headers.get("X-Refdesk-Signature", "")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureRefused("no timestamp in X-Refdesk-Signature") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > SIGNATURE_TOLERANCE:
        raise SignatureRefused("X-Refdesk-Signature timestamp outside the tolerance")
    expected = refdesk_signature(secret=webhook_secret(), timestamp=timestamp, body=request.body)
    # Several v1 values may be sent while a secret is being rotated: one must match.
    if not any(hmac.compare_digest(expected.encode(), v.encode()) for v in parts.get("v1", [])):
        raise SignatureRefused("X-Refdesk-Signature does not match")


def _webhook(check):
    """POST only, no CSRF, never cached; the signature checked first (403, rate limited when
    repeated); a malformed body 400; an expected failure of a service 409, never a 500."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request):
            try:
                check(request)
            except SignatureRefused as refused:
                logger.warning("webhook %s refused: %s", request.path, refused)
                try:
                    rate_limit_hit(
                        rule=limit_from_settings("hooks.refused", REFUSED_LIMIT),
                        key=client_address(request),
                    )
                except RateLimited as limited:
                    response = JsonResponse({"error": "too many refused requests"}, status=429)
                    response["Retry-After"] = str(max(1, int(limited.retry_after)))
                    return response
                return JsonResponse({"error": "invalid signature"}, status=403)
            try:
                return view(request)
            except Malformed as problem:
                return JsonResponse({"error": str(problem)}, status=400)
            except ApplicationError as problem:
                logger.warning("webhook %s not applied: %s", request.path, problem.code)
                return JsonResponse({"error": problem.code}, status=409)

        return csrf_exempt(require_POST(never_cache(wrapper)))

    return decorate


def _required(request, name: str) -> str:
    value = request.POST.get(name, "").strip()
    if not value:
        raise Malformed(f"{name} is required")
    return value


@_webhook(_twilio_check)
def sms_status(request):
    """Twilio's status callback: MessageSid, MessageStatus (queued, sent, delivered,
    undelivered, failed, ...) and, on failure, ErrorCode."""
    sid = _required(request, "MessageSid")
    status = _required(request, "MessageStatus")
    error_code = request.POST.get("ErrorCode", "")
    message_delivery_record(provider_id=sid, status=status, detail=error_code)
    return HttpResponse(status=204)


@_webhook(_twilio_check)
def sms_inbound(request):
    """A text message to our number: STOP (or another opt-out word) withdraws SMS consent for
    every referral of the sender's number. Anything else is not read. The answer is empty TwiML
    (no reply: Twilio's own opt-out confirmation, if enabled, answers a STOP)."""
    sender = _required(request, "From")
    body = request.POST.get("Body", "")
    if body.strip().upper() in STOP_WORDS:
        channel_opt_out(channel="sms", address=sender, actor="system:sms-inbound")
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


def _event_time(value, index: int) -> datetime | None:
    if value in (None, ""):
        return None
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        raise Malformed(f"events[{index}].at must be an ISO 8601 time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _email_events(body: bytes) -> list[tuple[str, str, datetime | None]]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the body must be JSON") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list) or not events:
        raise Malformed('the body must be {"events": [...]} with at least one event')
    if len(events) > MAX_EVENTS:
        raise Malformed(f"at most {MAX_EVENTS} events per request")
    parsed = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Malformed(f"events[{index}] must be an object")
        message_id = event.get("message_id")
        if not isinstance(message_id, str) or not message_id.strip():
            raise Malformed(f"events[{index}].message_id is required")
        kind = event.get("event")
        if kind not in EMAIL_EVENTS:
            raise Malformed(
                f"events[{index}].event must be one of: {', '.join(sorted(EMAIL_EVENTS))}"
            )
        parsed.append((message_id.strip()[:300], kind, _event_time(event.get("at"), index)))
    return parsed


@_webhook(_refdesk_check)
def email_events(request):
    """Email delivery events, all checked before any is recorded: delivered, bounced, failed
    (the message's status) and complained (marked as spam: an unsubscribe from email)."""
    recorded = unknown = 0
    for message_id, kind, at in _email_events(request.body):
        message = message_delivery_record(provider_id=message_id, status=kind, at=at)
        if message is None:
            unknown += 1
        else:
            recorded += 1
    return JsonResponse({"recorded": recorded, "unknown": unknown})
