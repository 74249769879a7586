"""Provider webhooks: only signed requests are read; delivery reports move a message's status
forward only and show on the referral's timeline; STOP replies, complaints withdraw consent for
the channel and cancel what was still waiting to go."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache

from refdesk.audit.models import AuditEvent
from refdesk.consent.models import ConsentRecord
from refdesk.consent.selectors import consent_current
from refdesk.intake.choices import Outcome, Stage
from refdesk.outreach.models import Message
from refdesk.portal.hooks import twilio_signature, webhook_secret
from refdesk.portal.tests.recipients import (
    AUTH_TOKEN,
    BASE_URL,
    consented_lead,
    email_post,
    forged,
    lead_email,
    lead_phone,
    message,
    twilio_post,
)
from refdesk.workflow.delivery import channel_opt_out, message_delivery_record

pytestmark = pytest.mark.django_db

STATUS = "/hooks/sms/status"
INBOUND = "/hooks/sms/inbound"


@pytest.fixture(autouse=True)
def _providers(settings):
    settings.REFDESK_BASE_URL = BASE_URL
    settings.REFDESK_TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.REFDESK_WEBHOOK_SECRET = ""  # derived from SECRET_KEY, as in development
    settings.REFDESK_RATE_LIMITS = {}
    cache.clear()  # rate-limit counters from earlier tests


def events(action: str, referral) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=action, subject_id=str(referral.public_id)).order_by("seq")
    )


def status_report(client, sms: Message, status: str, **extra):
    params = {"MessageSid": sms.provider_id, "MessageStatus": status, **extra}
    return twilio_post(client, STATUS, params)


# --- signatures ---------------------------------------------------------------------------


def test_it_refuses_a_status_callback_with_a_forged_signature(client):
    referral = consented_lead(1)
    sms = message(referral, channel="sms")
    params = {"MessageSid": sms.provider_id, "MessageStatus": "delivered"}
    response = twilio_post(client, STATUS, params, signature=forged("twilio"))
    assert response.status_code == 403
    assert response.json() == {"error": "invalid signature"}
    sms.refresh_from_db()
    assert sms.status == "sent"


def test_it_refuses_a_status_callback_signed_with_another_token(client):
    referral = consented_lead(2)
    sms = message(referral, channel="sms")
    params = {"MessageSid": sms.provider_id, "MessageStatus": "delivered"}
    assert twilio_post(client, STATUS, params, token="not-the-token").status_code == 403


def test_it_refuses_a_status_callback_without_a_signature(client):
    response = client.post(STATUS, {"MessageSid": "SMx", "MessageStatus": "delivered"})
    assert response.status_code == 403


def test_it_refuses_every_twilio_request_when_no_auth_token_is_configured(client, settings):
    settings.REFDESK_TWILIO_AUTH_TOKEN = ""
    params = {"MessageSid": "SMx", "MessageStatus": "delivered"}
    assert twilio_post(client, STATUS, params, token="").status_code == 403


def test_it_signs_over_the_configured_base_url_not_the_host_header(client):
    """Behind a proxy Django sees http://testserver; Twilio signed https://refdesk.example."""
    referral = consented_lead(3)
    sms = message(referral, channel="sms")
    params = {"MessageSid": sms.provider_id, "MessageStatus": "delivered"}
    assert twilio_post(client, STATUS, params).status_code == 204
    as_django_sees_it = twilio_signature(
        auth_token=AUTH_TOKEN, url=f"http://testserver{STATUS}", params=params
    )
    again = twilio_post(client, STATUS, params, signature=as_django_sees_it)
    assert again.status_code == 403


def test_it_refuses_an_inbound_sms_with_a_forged_signature(client):
    referral = consented_lead(4)
    params = {"From": lead_phone(4), "Body": "STOP"}
    response = twilio_post(client, INBOUND, params, signature=forged("twilio"))
    assert response.status_code == 403
    assert "sms" in consent_current(referral).channels


def test_it_refuses_email_events_with_a_forged_signature(client):
    referral = consented_lead(5)
    email = message(referral, channel="email", provider_id="<m5@refdesk.example>")
    body = json.dumps({"events": [{"message_id": email.provider_id, "event": "bounced"}]})
    response = client.post(
        "/hooks/email/events",
        body,
        content_type="application/json",
        HTTP_X_REFDESK_SIGNATURE=f"t={int(time.time())},v1={forged('refdesk')}",
    )
    assert response.status_code == 403
    email.refresh_from_db()
    assert email.status == "sent"


def test_it_refuses_email_events_signed_with_another_secret(client):
    response = email_post(client, [{"message_id": "<x@y>", "event": "bounced"}], secret="other")
    assert response.status_code == 403


def test_it_refuses_a_replayed_email_event_with_an_old_timestamp(client):
    referral = consented_lead(6)
    email = message(referral, channel="email", provider_id="<m6@refdesk.example>")
    old = int(time.time()) - 6 * 60
    response = email_post(
        client,
        [{"message_id": email.provider_id, "event": "bounced"}],
        secret=webhook_secret(),
        timestamp=old,
    )
    assert response.status_code == 403
    email.refresh_from_db()
    assert email.status == "sent"


def test_it_refuses_an_email_event_timestamped_in_the_future(client):
    future = int(time.time()) + 6 * 60
    response = email_post(
        client,
        [{"message_id": "<x@y>", "event": "bounced"}],
        secret=webhook_secret(),
        timestamp=future,
    )
    assert response.status_code == 403


def test_it_uses_the_configured_webhook_secret_when_set(client, settings):
    settings.REFDESK_WEBHOOK_SECRET = "configured-secret"
    events_ = [{"message_id": "<unknown@y>", "event": "delivered"}]
    assert email_post(client, events_, secret="configured-secret").status_code == 200
    derived = email_post(client, events_, secret=webhook_secret().replace("c", "d"))
    assert derived.status_code == 403


def test_it_rate_limits_an_address_that_keeps_sending_bad_signatures(client, settings):
    settings.REFDESK_RATE_LIMITS = {"hooks.refused": (2, 60)}
    params = {"MessageSid": "SMx", "MessageStatus": "delivered"}
    codes = [
        twilio_post(client, STATUS, params, signature=forged("twilio")).status_code
        for _ in range(3)
    ]
    assert codes == [403, 403, 429]


def test_it_answers_only_posts(client):
    assert client.get(STATUS).status_code == 405
    assert client.get("/hooks/email/events").status_code == 405


# --- SMS delivery reports -----------------------------------------------------------------


def test_a_valid_status_callback_records_delivery_on_the_referrals_timeline(client):
    referral = consented_lead(10)
    sms = message(referral, channel="sms")
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False):
        response = status_report(client, sms, "delivered")
    assert response.status_code == 204
    sms.refresh_from_db()
    assert sms.status == "delivered"
    assert sms.delivered_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    (event,) = events("message.delivered", referral)
    assert event.actor == "system:delivery"
    assert event.changes == {
        "message": {"old": None, "new": str(sms.public_id)},
        "channel": {"old": None, "new": "sms"},
        "status": {"old": "sent", "new": "delivered"},
    }
    assert lead_phone(10) not in json.dumps(event.changes)


def test_a_late_sent_after_delivered_does_not_move_the_message_back(client):
    referral = consented_lead(11)
    sms = message(referral, channel="sms")
    status_report(client, sms, "delivered")
    response = status_report(client, sms, "sent")
    assert response.status_code == 204
    sms.refresh_from_db()
    assert sms.status == "delivered"
    assert len(events("message.delivered", referral)) == 1
    assert events("message.sent", referral) == []


def test_queued_and_sending_reports_change_nothing(client):
    referral = consented_lead(12)
    sms = message(referral, channel="sms")
    for word in ("queued", "accepted", "sending"):
        assert status_report(client, sms, word).status_code == 204
    sms.refresh_from_db()
    assert sms.status == "sent"


def test_an_undelivered_report_fails_the_message_with_the_providers_code_only(client):
    referral = consented_lead(13)
    sms = message(referral, channel="sms")
    status_report(client, sms, "undelivered", ErrorCode="30003")
    sms.refresh_from_db()
    assert (sms.status, sms.reason) == ("failed", "30003")
    assert sms.failed_at is not None
    (event,) = events("message.failed", referral)
    assert event.changes["reason"] == {"old": None, "new": "30003"}


def test_failed_is_final_even_if_delivered_arrives_later(client):
    referral = consented_lead(14)
    sms = message(referral, channel="sms")
    status_report(client, sms, "failed", ErrorCode="30005")
    status_report(client, sms, "delivered")
    sms.refresh_from_db()
    assert sms.status == "failed"
    assert events("message.delivered", referral) == []


def test_a_sent_report_moves_a_message_still_marked_sending(client):
    referral = consented_lead(15)
    sms = message(referral, channel="sms", status="sending")
    status_report(client, sms, "sent")
    sms.refresh_from_db()
    assert sms.status == "sent" and sms.sent_at is not None
    assert len(events("message.sent", referral)) == 1


def test_a_report_about_an_unknown_message_is_accepted_and_logged_by_id_only(client, caplog):
    response = twilio_post(client, STATUS, {"MessageSid": "SMunknown", "MessageStatus": "sent"})
    assert response.status_code == 204
    assert "SMunknown" in caplog.text


def test_a_status_callback_without_its_fields_is_a_400(client):
    response = twilio_post(client, STATUS, {"MessageStatus": "sent"})
    assert response.status_code == 400
    assert response.json() == {"error": "MessageSid is required"}


def test_message_delivery_record_returns_none_for_an_unknown_provider_id():
    assert message_delivery_record(provider_id="SMnothing", status="delivered") is None


# --- STOP by text message -----------------------------------------------------------------


def test_an_inbound_stop_withdraws_sms_consent_and_cancels_pending_texts(client):
    referral = consented_lead(20)
    waiting = message(referral, channel="sms", status="scheduled")
    claimed = message(referral, channel="sms", status="claimed")
    email_waiting = message(referral, channel="email", status="scheduled")
    response = twilio_post(client, INBOUND, {"From": lead_phone(20), "Body": "  stop "})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response/>")

    current = consent_current(referral)
    assert current.granted and current.channels == ("email", "phone")
    record = ConsentRecord.objects.filter(referral=referral).latest("recorded_at", "id")
    assert (record.event, record.reason, record.withdrawn_channels) == (
        "withdrawn",
        "lead_request",
        ["sms"],
    )
    assert record.recorded_by == "system:sms-inbound"
    for cancelled in (waiting, claimed):
        cancelled.refresh_from_db()
        assert (cancelled.status, cancelled.reason, cancelled.next_action_at) == (
            "refused",
            "consent_withdrawn",
            None,
        )
    email_waiting.refresh_from_db()
    assert email_waiting.status == "scheduled"
    cancellations = events("message.cancelled", referral)
    assert len(cancellations) == 2
    assert cancellations[0].changes["reason"] == {"old": None, "new": "consent_withdrawn"}
    assert len(events("consent.withdrawn", referral)) == 1


@pytest.mark.parametrize("word", ["STOPALL", "unsubscribe", "Cancel", "END", "quit"])
def test_each_opt_out_word_is_a_stop(client, word):
    referral = consented_lead(21)
    twilio_post(client, INBOUND, {"From": lead_phone(21), "Body": word})
    assert "sms" not in consent_current(referral).channels


def test_a_text_that_is_not_an_opt_out_word_changes_nothing(client):
    referral = consented_lead(22)
    response = twilio_post(client, INBOUND, {"From": lead_phone(22), "Body": "Please stop by"})
    assert response.status_code == 200
    assert "sms" in consent_current(referral).channels


def test_stop_reaches_every_referral_of_the_number_and_no_other(client):
    first = consented_lead(23)
    other = consented_lead(24)
    twilio_post(client, INBOUND, {"From": lead_phone(23), "Body": "STOP"})
    assert "sms" not in consent_current(first).channels
    assert "sms" in consent_current(other).channels


def test_stop_from_a_national_spelling_of_the_number_finds_the_lead():
    referral = consented_lead(25)
    national = lead_phone(25).removeprefix("+1")
    assert channel_opt_out(channel="sms", address=national, actor="system:test") == 1
    assert "sms" not in consent_current(referral).channels


def test_stop_withdrawing_the_last_channel_withdraws_consent_and_closes_the_referral(client):
    referral = consented_lead(26, channels=("sms",))
    twilio_post(client, INBOUND, {"From": lead_phone(26), "Body": "STOP"})
    referral.refresh_from_db()
    assert not consent_current(referral).granted
    assert (referral.stage, referral.outcome) == (Stage.CLOSED, Outcome.WITHDRAWN)


def test_a_second_stop_changes_nothing_more(client):
    referral = consented_lead(27)
    twilio_post(client, INBOUND, {"From": lead_phone(27), "Body": "STOP"})
    twilio_post(client, INBOUND, {"From": lead_phone(27), "Body": "STOP"})
    assert len(events("consent.withdrawn", referral)) == 1


def test_an_inbound_text_without_a_sender_is_a_400(client):
    assert twilio_post(client, INBOUND, {"Body": "STOP"}).status_code == 400


# --- email events -------------------------------------------------------------------------


def test_an_email_bounce_is_recorded(client):
    referral = consented_lead(30)
    email = message(referral, channel="email", provider_id="<m30@refdesk.example>")
    response = email_post(
        client,
        [{"message_id": email.provider_id, "event": "bounced", "at": "2026-03-02T10:00:00Z"}],
        secret=webhook_secret(),
    )
    assert response.status_code == 200
    assert response.json() == {"recorded": 1, "unknown": 0}
    email.refresh_from_db()
    assert email.status == "bounced"
    assert email.failed_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    (event,) = events("message.bounced", referral)
    assert event.changes["status"] == {"old": "sent", "new": "bounced"}
    assert lead_email(30) not in json.dumps(event.changes)


def test_an_email_event_finds_the_message_id_with_or_without_angle_brackets(client):
    referral = consented_lead(31)
    email = message(referral, channel="email", provider_id="<m31@refdesk.example>")
    email_post(
        client,
        [{"message_id": "m31@refdesk.example", "event": "delivered"}],
        secret=webhook_secret(),
    )
    email.refresh_from_db()
    assert email.status == "delivered"


def test_a_complaint_withdraws_email_consent_for_that_referral(client):
    referral = consented_lead(32)
    email = message(referral, channel="email", provider_id="<m32@refdesk.example>")
    later = message(referral, channel="email", status="scheduled")
    response = email_post(
        client, [{"message_id": email.provider_id, "event": "complained"}], secret=webhook_secret()
    )
    assert response.status_code == 200
    current = consent_current(referral)
    assert current.granted and current.channels == ("phone", "sms")
    (withdrawn,) = events("consent.withdrawn", referral)
    assert withdrawn.actor == "system:email-complaint"
    later.refresh_from_db()
    assert (later.status, later.reason) == ("refused", "consent_withdrawn")
    email.refresh_from_db()
    assert email.status == "sent"


def test_unknown_message_ids_are_counted_not_refused(client):
    response = email_post(
        client, [{"message_id": "<nobody@x>", "event": "delivered"}], secret=webhook_secret()
    )
    assert response.status_code == 200
    assert response.json() == {"recorded": 0, "unknown": 1}


def test_malformed_json_is_a_400(client):
    response = email_post(client, None, secret=webhook_secret(), body=b"{not json")
    assert response.status_code == 400
    assert response.json() == {"error": "the body must be JSON"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"events": []}, 'the body must be {"events": [...]} with at least one event'),
        ({"events": [{"event": "bounced"}]}, "events[0].message_id is required"),
        (
            {"events": [{"message_id": "<a@b>", "event": "opened"}]},
            "events[0].event must be one of: bounced, complained, delivered, failed",
        ),
        (
            {"events": [{"message_id": "<a@b>", "event": "bounced", "at": "yesterday"}]},
            "events[0].at must be an ISO 8601 time",
        ),
    ],
)
def test_a_malformed_event_is_a_400_that_says_what_is_wrong(client, body, error):
    response = email_post(client, None, secret=webhook_secret(), body=json.dumps(body).encode())
    assert response.status_code == 400
    assert response.json() == {"error": error}


def test_a_malformed_event_records_none_of_the_batch(client):
    referral = consented_lead(33)
    email = message(referral, channel="email", provider_id="<m33@refdesk.example>")
    body = {
        "events": [
            {"message_id": email.provider_id, "event": "delivered"},
            {"message_id": "<a@b>", "event": "opened"},
        ]
    }
    email_post(client, None, secret=webhook_secret(), body=json.dumps(body).encode())
    email.refresh_from_db()
    assert email.status == "sent"
