"""SMS backends: the configured one is used; the Twilio adapter speaks Twilio's REST API (checked
against a fake Twilio on 127.0.0.1) and maps its failures to retryable or final errors."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from refdesk.outreach.sms import (
    ConsoleSMSBackend,
    DisabledSMSBackend,
    LocmemSMSBackend,
    SmsError,
    SmsResult,
    TwilioSMSBackend,
    get_sms_backend,
)

SID = "AC00000000000000000000000000000001"
TOKEN = "test-auth-token"
NUMBER = "+12125550142"
BODY = "Hi Alex, this is the patient support help line. Reply STOP to opt out."


class FakeTwilio(BaseHTTPRequestHandler):
    """Answers like Twilio's Messages resource. ``server.answer`` (status, JSON) overrides the
    reply; every request is kept in ``server.requests``."""

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "form": form}
        )
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if self.path != f"/2010-04-01/Accounts/{SID}/Messages.json":
            return self._reply(404, {"code": 20404, "message": "Not found", "status": 404})
        if self.server.answer is not None:
            return self._reply(*self.server.answer)
        return self._reply(
            201,
            {"sid": "SM" + "a" * 32, "status": "queued", "to": form["To"][0], "body": "..."},
        )

    def _reply(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def twilio(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    server.requests = []
    server.answer = None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.REFDESK_TWILIO_ACCOUNT_SID = SID
    settings.REFDESK_TWILIO_AUTH_TOKEN = TOKEN
    settings.REFDESK_TWILIO_FROM = "+15005550006"
    settings.REFDESK_TWILIO_BASE_URL = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def send(**overrides):
    arguments = {
        "to": NUMBER,
        "body": BODY,
        "idempotency_key": "msg-123-attempt-1",
        "status_callback": "https://refdesk.example/hooks/sms/status",
        **overrides,
    }
    return TwilioSMSBackend().send(**arguments)


def test_get_sms_backend_returns_the_configured_backend(settings):
    settings.REFDESK_SMS_BACKEND = "refdesk.outreach.sms.ConsoleSMSBackend"
    assert isinstance(get_sms_backend(), ConsoleSMSBackend)
    settings.REFDESK_SMS_BACKEND = "refdesk.outreach.sms.LocmemSMSBackend"
    assert isinstance(get_sms_backend(), LocmemSMSBackend)


def test_console_backend_prints_the_message_for_development():
    backend = ConsoleSMSBackend()
    backend.stream = io.StringIO()
    result = backend.send(to=NUMBER, body="Hello", idempotency_key="k1")
    assert backend.stream.getvalue() == f"SMS to {NUMBER}: Hello\n"
    assert result == SmsResult(provider_id="console-k1", status="sent")


def test_locmem_backend_keeps_messages_and_honours_the_idempotency_key():
    backend = get_sms_backend()
    first = backend.send(to=NUMBER, body="Hello", idempotency_key="k1", status_callback="cb")
    again = backend.send(to=NUMBER, body="Hello", idempotency_key="k1")
    assert first.status == "queued" and again.provider_id == first.provider_id
    assert LocmemSMSBackend.outbox == [
        {
            "to": NUMBER,
            "body": "Hello",
            "idempotency_key": "k1",
            "status_callback": "cb",
            "provider_id": first.provider_id,
        }
    ]


def test_the_outbox_starts_empty_in_every_test():
    assert LocmemSMSBackend.outbox == []


def test_disabled_backend_refuses_to_send_for_good():
    with pytest.raises(SmsError) as refused:
        DisabledSMSBackend().send(to=NUMBER, body="Hello", idempotency_key="k1")
    assert refused.value.retryable is False


def test_twilio_backend_posts_the_message_with_auth_fields_and_idempotency_token(twilio):
    result = send()
    assert result == SmsResult(provider_id="SM" + "a" * 32, status="queued")
    (request,) = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["headers"]["I-Twilio-Idempotency-Token"] == "msg-123-attempt-1"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {
        "To": [NUMBER],
        "From": ["+15005550006"],
        "Body": [BODY],
        "StatusCallback": ["https://refdesk.example/hooks/sms/status"],
    }


def test_twilio_backend_sends_through_a_messaging_service_when_configured(twilio, settings):
    settings.REFDESK_TWILIO_FROM = "MG" + "b" * 32
    send(status_callback=None)
    form = twilio.requests[0]["form"]
    assert form["MessagingServiceSid"] == ["MG" + "b" * 32]
    assert "From" not in form and "StatusCallback" not in form


def test_twilio_backend_reads_a_sent_status(twilio):
    twilio.answer = (200, {"sid": "SMfeed", "status": "sent"})
    assert send() == SmsResult(provider_id="SMfeed", status="sent")


def test_twilio_backend_refuses_bad_credentials_for_good(twilio, settings):
    settings.REFDESK_TWILIO_AUTH_TOKEN = "wrong"
    with pytest.raises(SmsError) as refused:
        send()
    assert refused.value.retryable is False
    assert "401" in refused.value.message


def test_a_400_is_final_and_names_only_the_providers_code(twilio):
    twilio.answer = (400, {"code": 21211, "message": f"The 'To' number {NUMBER} is not valid"})
    with pytest.raises(SmsError) as refused:
        send()
    assert refused.value.retryable is False
    assert "21211" in refused.value.message
    assert NUMBER not in refused.value.message and "555" not in str(refused.value)


def test_a_429_is_retryable(twilio):
    twilio.answer = (429, {"code": 20429, "message": "Too Many Requests"})
    with pytest.raises(SmsError) as busy:
        send()
    assert busy.value.retryable is True


def test_a_500_is_retryable(twilio):
    twilio.answer = (500, {"code": 20500, "message": "Internal Server Error"})
    with pytest.raises(SmsError) as failed:
        send()
    assert failed.value.retryable is True


def test_an_unreadable_success_is_retryable_with_the_same_key(twilio):
    twilio.answer = (201, {"status": "queued"})
    with pytest.raises(SmsError) as unreadable:
        send()
    assert unreadable.value.retryable is True


def test_a_refused_connection_is_retryable(settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.REFDESK_TWILIO_ACCOUNT_SID = SID
    settings.REFDESK_TWILIO_AUTH_TOKEN = TOKEN
    settings.REFDESK_TWILIO_FROM = "+15005550006"
    settings.REFDESK_TWILIO_BASE_URL = f"http://127.0.0.1:{port}"
    with pytest.raises(SmsError) as unreachable:
        send()
    assert unreachable.value.retryable is True


def test_a_timeout_is_retryable(twilio, monkeypatch):
    monkeypatch.setattr(TwilioSMSBackend, "timeout", 0.2)
    release = threading.Event()

    def slow(handler):
        release.wait(5)

    monkeypatch.setattr(FakeTwilio, "do_POST", slow)
    try:
        with pytest.raises(SmsError) as slow_answer:
            send()
    finally:
        release.set()
    assert slow_answer.value.retryable is True
    assert "in time" in slow_answer.value.message


def test_twilio_backend_without_settings_refuses_to_send(settings):
    settings.REFDESK_TWILIO_ACCOUNT_SID = ""
    with pytest.raises(SmsError) as unconfigured:
        send()
    assert unconfigured.value.retryable is False
    assert "REFDESK_TWILIO_ACCOUNT_SID" in unconfigured.value.message


def test_twilio_backend_never_logs_the_number_or_the_text(twilio, caplog):
    caplog.set_level("DEBUG")
    send()
    assert NUMBER not in caplog.text and "patient support" not in caplog.text
