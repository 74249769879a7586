"""Builders for the delivery tests: a patient-support lead who consented to be contacted by
phone, text message and email, and messages to them recorded as the sender would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import replace

from refdesk.consent.selectors import consent_current
from refdesk.intake.models import Referral
from refdesk.outreach.models import Message
from refdesk.portal.hooks import twilio_signature
from refdesk.testing import phone, submit, support

AUTH_TOKEN = "twilio-test-auth-token"
BASE_URL = "https://refdesk.example"


def lead_email(n: int) -> str:
    return f"alex.moreno{n}@example.net"


def consented_lead(n: int = 0, channels=("phone", "sms", "email")) -> Referral:
    """A routed patient-support referral whose lead gave a phone number and an email address
    and consented to ``channels``."""
    submission = support(n, channels=tuple(channels))
    submission = replace(submission, lead={**submission.lead, "email": lead_email(n)})
    referral = submit("patient-support", submission)
    assert consent_current(referral).granted
    return referral


def lead_phone(n: int) -> str:
    return phone(n)


def message(referral: Referral, *, channel: str, status: str = "sent", **fields) -> Message:
    """A message as the sender records it (template None: no program wording needed here)."""
    values = {
        "referral": referral,
        "template": None,
        "template_key": "support-callback-intro",
        "purpose": "first_outreach",
        "audience": "lead",
        "channel": channel,
        "status": status,
        "idempotency_key": f"test-{uuid.uuid4().hex}",
        "requested_by": "system:test",
        "provider_id": f"SM{uuid.uuid4().hex}" if status not in ("scheduled", "claimed") else "",
        **fields,
    }
    if status in ("scheduled", "claimed") and "next_action_at" not in fields:
        values["next_action_at"] = referral.received_at
    return Message.objects.create(**values)


def twilio_post(client, path: str, params: dict, *, token: str = AUTH_TOKEN, signature=None):
    """POST ``params`` as Twilio does, signed with ``token`` over ``BASE_URL + path``."""
    if signature is None:
        signature = twilio_signature(auth_token=token, url=f"{BASE_URL}{path}", params=params)
    return client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def email_post(
    client, events, *, secret: str, timestamp: int | None = None, body: bytes | None = None
):
    """POST ``{"events": events}`` signed like the email-events webhook wants."""
    raw = body if body is not None else json.dumps({"events": events}).encode()
    stamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return client.post(
        "/hooks/email/events",
        raw,
        content_type="application/json",
        HTTP_X_REFDESK_SIGNATURE=f"t={stamp},v1={digest}",
    )


def forged(value: str) -> str:
    """A signature of the right shape that the key did not make."""
    return base64.b64encode(b"x" * 20).decode() if value == "twilio" else "0" * 64
