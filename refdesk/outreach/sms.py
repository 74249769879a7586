"""Text messages: one small interface, a backend chosen by ``REFDESK_SMS_BACKEND`` (a dotted path).

``get_sms_backend().send(to=..., body=..., idempotency_key=..., status_callback=...)`` hands one
message to the provider and returns ``SmsResult(provider_id, status)``; a failure raises
``SmsError(message, retryable=...)``: retryable when trying again later may work (the provider is
busy or unreachable), not when the request itself was refused (a bad number, bad credentials).

Backends, like Django's mail backends:
- ``ConsoleSMSBackend`` (development default) prints each message to stdout;
- ``LocmemSMSBackend`` (tests) keeps them in ``LocmemSMSBackend.outbox``;
- ``TwilioSMSBackend`` calls Twilio's REST API (or any service answering like it, through
  ``REFDESK_TWILIO_BASE_URL``) with the standard library only;
- ``DisabledSMSBackend`` (production default until a provider is configured) refuses to send.

The number and the text are patient data: no backend here logs them, and no error names them.
Delivery reports and STOP replies come back through the webhooks in ``refdesk.portal.hooks``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

DEFAULT_BACKEND = "refdesk.outreach.sms.ConsoleSMSBackend"
TWILIO_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class SmsResult:
    """What the provider answered: its id for the message (delivery reports name it) and its
    status, "queued" (accepted, not yet handed on) or "sent"."""

    provider_id: str
    status: str


class SmsError(Exception):
    """The message was not accepted. ``retryable``: the same message may succeed later."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.message = message
        self.retryable = retryable


def get_sms_backend(path: str | None = None):
    """An instance of the configured backend (``REFDESK_SMS_BACKEND``), or of ``path``."""
    dotted = path or getattr(settings, "REFDESK_SMS_BACKEND", "") or DEFAULT_BACKEND
    return import_string(dotted)()


class BaseSMSBackend:
    def send(
        self, *, to: str, body: str, idempotency_key: str, status_callback: str | None = None
    ) -> SmsResult:
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    """Prints ``SMS to <number>: <body>`` to stdout. Development only: the output holds patient
    data, which is why production never defaults to it."""

    stream = None  # defaults to sys.stdout at the time of sending

    def send(
        self, *, to: str, body: str, idempotency_key: str, status_callback: str | None = None
    ) -> SmsResult:
        stream = self.stream or sys.stdout
        stream.write(f"SMS to {to}: {body}\n")
        stream.flush()
        return SmsResult(provider_id=f"console-{idempotency_key}", status="sent")


class LocmemSMSBackend(BaseSMSBackend):
    """Keeps each message in ``LocmemSMSBackend.outbox`` (a module-level list of dicts, emptied
    before each test by the root conftest). Sending the same idempotency key twice returns the
    first result and records nothing new, as a provider honouring the key would."""

    outbox: list[dict] = []

    def send(
        self, *, to: str, body: str, idempotency_key: str, status_callback: str | None = None
    ) -> SmsResult:
        for sent in self.outbox:
            if sent["idempotency_key"] == idempotency_key:
                return SmsResult(provider_id=sent["provider_id"], status="queued")
        provider_id = f"SM{uuid.uuid4().hex}"
        self.outbox.append(
            {
                "to": to,
                "body": body,
                "idempotency_key": idempotency_key,
                "status_callback": status_callback,
                "provider_id": provider_id,
            }
        )
        return SmsResult(provider_id=provider_id, status="queued")


class DisabledSMSBackend(BaseSMSBackend):
    """No SMS provider configured: every send is refused (not retryable), so the message is
    recorded as failed and staff see it, instead of text leaking into a log."""

    def send(
        self, *, to: str, body: str, idempotency_key: str, status_callback: str | None = None
    ) -> SmsResult:
        raise SmsError("no SMS provider is configured (REFDESK_SMS_BACKEND)", retryable=False)


class TwilioSMSBackend(BaseSMSBackend):
    """Twilio's Messages API: ``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``.

    Settings: ``REFDESK_TWILIO_ACCOUNT_SID``, ``REFDESK_TWILIO_AUTH_TOKEN``, ``REFDESK_TWILIO_FROM``
    (a number in E.164 form, or a Messaging Service SID ``MG...``) and ``REFDESK_TWILIO_BASE_URL``
    (https://api.twilio.com). The idempotency key goes in ``I-Twilio-Idempotency-Token``, so a
    retry after a lost answer does not send the message twice.

    Errors: 429 (too many requests), 5xx, time-outs and connection failures are retryable;
    any other 4xx (a bad number, bad credentials) is not.
    """

    timeout = TWILIO_TIMEOUT_SECONDS

    def __init__(self):
        self.account_sid = getattr(settings, "REFDESK_TWILIO_ACCOUNT_SID", "")
        self.auth_token = getattr(settings, "REFDESK_TWILIO_AUTH_TOKEN", "")
        self.sender = getattr(settings, "REFDESK_TWILIO_FROM", "")
        base = getattr(settings, "REFDESK_TWILIO_BASE_URL", "") or "https://api.twilio.com"
        self.base_url = base.rstrip("/")

    def _missing_settings(self) -> list[str]:
        wanted = {
            "REFDESK_TWILIO_ACCOUNT_SID": self.account_sid,
            "REFDESK_TWILIO_AUTH_TOKEN": self.auth_token,
            "REFDESK_TWILIO_FROM": self.sender,
        }
        return [name for name, value in wanted.items() if not value]

    def _request(
        self, *, to: str, body: str, idempotency_key: str, status_callback: str | None
    ) -> urllib.request.Request:
        fields = {"To": to, "Body": body}
        if self.sender.startswith("MG"):
            fields["MessagingServiceSid"] = self.sender
        else:
            fields["From"] = self.sender
        if status_callback:
            fields["StatusCallback"] = status_callback
        sid = urllib.parse.quote(self.account_sid, safe="")
        url = f"{self.base_url}/2010-04-01/Accounts/{sid}/Messages.json"
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return urllib.request.Request(
            url,
            data=urllib.parse.urlencode(fields).encode(),
            method="POST",
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "I-Twilio-Idempotency-Token": idempotency_key,
            },
        )

    def send(
        self, *, to: str, body: str, idempotency_key: str, status_callback: str | None = None
    ) -> SmsResult:
        missing = self._missing_settings()
        if missing:
            raise SmsError(
                f"the SMS provider is not configured: {', '.join(missing)}", retryable=False
            )
        request = self._request(
            to=to, body=body, idempotency_key=idempotency_key, status_callback=status_callback
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as failure:
            raise _http_error(failure) from None
        except TimeoutError:
            raise SmsError("the SMS provider did not answer in time", retryable=True) from None
        except OSError as failure:  # URLError, refused or reset connections
            reason = type(getattr(failure, "reason", failure)).__name__
            raise SmsError(f"could not reach the SMS provider ({reason})", retryable=True) from None
        try:
            answer = json.loads(payload)
            provider_id = str(answer["sid"])
        except (ValueError, KeyError, TypeError):
            # Accepted (2xx) but unreadable: the message may have left; retrying with the same
            # idempotency key is safe.
            raise SmsError("the SMS provider's answer could not be read", retryable=True) from None
        status = "sent" if answer.get("status") == "sent" else "queued"
        logger.info("SMS accepted by the provider (id %s, key %s)", provider_id, idempotency_key)
        return SmsResult(provider_id=provider_id, status=status)


def _http_error(failure: urllib.error.HTTPError) -> SmsError:
    """Twilio answers errors as JSON ``{code, message, status}``; its message may quote the
    number, so only the numeric code is kept."""
    code = ""
    with contextlib.suppress(ValueError, AttributeError, OSError):
        code = str(json.loads(failure.read()).get("code") or "")
    detail = f" (provider error {code})" if code.isdigit() else ""
    status = failure.code
    if status == 429:
        return SmsError(f"the SMS provider is busy: HTTP 429{detail}", retryable=True)
    if 400 <= status < 500:
        return SmsError(
            f"the SMS provider refused the message: HTTP {status}{detail}", retryable=False
        )
    return SmsError(f"the SMS provider failed: HTTP {status}{detail}", retryable=True)
