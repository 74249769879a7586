"""No patient data in any log line, every request's lines carry its id, and the access log names
URL patterns, never paths.

Canary values (a distinctive name, email, phone, birth year and free text) go through the web
intake, the partner API (accepted and refused), the console and a failing request, with every
logger at DEBUG written as JSON; then no line may contain any canary.
"""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.test import Client
from django.urls import reverse

from refdesk.core.logs import JsonFormatter, PlainFormatter, RequestContextFilter
from refdesk.intake.models import Referral
from refdesk.portal import views as portal_views
from refdesk.testing import (
    changed,
    detail_url,
    latest_consent_version,
    make_partner,
    make_personas,
    make_referrer,
    valid_body,
)

pytestmark = pytest.mark.django_db

GIVEN, FAMILY = "Zephyrine", "Quillfeather"
EMAIL = "zephyrine.canary@example.org"
PHONE_DIGITS = "6175550199"
BIRTH_YEAR = "1929"
FREE_TEXT = "Marmalade-Oxbow tremors since the lighthouse visit"
CANARIES = [GIVEN, FAMILY, "zephyrine", EMAIL, PHONE_DIGITS, "555-0199", "Marmalade", "lighthouse"]
# A birth year is four digits: it must not stand alone (hex ids and durations could hold it).
BIRTH_YEAR_ALONE = re.compile(rf"(?<![0-9a-fA-F.]){BIRTH_YEAR}(?![0-9a-fA-F.])")


@pytest.fixture
def json_lines():
    """Every logger at DEBUG, every record written as JSON into a buffer: yields its lines."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    handler.setLevel(logging.DEBUG)
    manager = logging.root.manager
    loggers = [logging.root] + [
        item for item in manager.loggerDict.values() if isinstance(item, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is logging.root or not logger.propagate:
            logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    finally:
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(handler)


def web_form(**overrides) -> dict:
    data = {
        "request_type": "trial_prescreen",
        "lead_given_name": GIVEN,
        "lead_family_name": FAMILY,
        "lead_preferred_contact": "phone",
        "lead_phone": "(617) 555-0199",
        "lead_email": EMAIL,
        "lead_timezone": "America/Chicago",
        "lead_country": "US",
        "lead_birth_year": BIRTH_YEAR,
        "answer_study_id": "RDX-301",
        "answer_age": "54",
        "answer_diagnosis_confirmed": "yes",
        "answer_ecog": "1",
        "answer_prior_therapy_lines": "1",
        "answer_active_brain_metastases": "no",
        "consent_granted": "on",
        "consent_channels": ["phone", "email"],
        "consent_method": "attested_by_referrer",
        "consent_text_version": latest_consent_version("trial-prescreening"),
    }
    data.update(overrides)
    return data


def canary_body(program: str = "patient-support") -> dict:
    body = valid_body(program, email=EMAIL, phone="+1 617 555 0199")
    body = changed(body, "lead.given_name", GIVEN)
    body = changed(body, "lead.family_name", FAMILY)
    return changed(body, "answers.reason_for_contact", FREE_TEXT)


def assert_no_canary(lines: list[dict]) -> None:
    for line in lines:
        text = json.dumps(line, ensure_ascii=False)
        for canary in CANARIES:
            assert canary.lower() not in text.lower(), (canary, line)
        assert not BIRTH_YEAR_ALONE.search(text), line


def test_no_patient_data_reaches_any_log_line_and_every_line_has_its_request_id(
    json_lines, monkeypatch
):
    people = make_personas()
    coordinator = make_referrer("trial-prescreening", "study-coordinator")
    partner = make_partner("patient-support")
    client = Client(raise_request_exception=False)

    # The web intake: refused (an invalid email and a missing field), then accepted.
    client.post(f"/r/{coordinator.code}", web_form(lead_email="zephyrine@@", answer_age=""))
    accepted = client.post(f"/r/{coordinator.code}", web_form())
    assert accepted.status_code == 302
    referral = Referral.objects.get(referrer=coordinator)
    thanks = accepted["Location"]
    client.get(thanks)

    # The partner API: accepted, refused for content, and malformed.
    api = "/api/v1/referrals"
    assert (
        client.post(api, canary_body(), content_type="application/json", **partner.auth)
    ).status_code in (200, 201)
    bad = changed(canary_body(), "lead.email", f"{GIVEN}@@{FAMILY}")
    bad = changed(bad, "lead.birth_year", f"{BIRTH_YEAR} {FREE_TEXT}")
    assert (
        client.post(api, bad, content_type="application/json", **partner.auth)
    ).status_code == 422
    client.post(api, f'{{"lead": "{FREE_TEXT}"', content_type="application/json", **partner.auth)
    client.post(api, canary_body(), content_type="application/json")  # no key

    # The console: a queue, the referral page and a search by name.
    client.force_login(people["coordinator"])
    client.get("/desk/")
    client.get(detail_url(referral))
    client.get(reverse("desk:search"), {"q": f"{GIVEN} {FAMILY}"})
    client.get(reverse("desk:search"), {"q": EMAIL})
    client.logout()

    # A failing request whose exception quotes the submitted values.
    def explode(**kwargs):
        raise RuntimeError(f"could not store {GIVEN} {FAMILY} <{EMAIL}> born {BIRTH_YEAR}")

    monkeypatch.setattr(portal_views, "referral_submit", explode)
    failed = client.post(f"/r/{coordinator.code}", web_form(lead_email="other@example.org"))
    assert failed.status_code == 500

    lines = json_lines()
    assert lines, "nothing was logged"
    assert_no_canary(lines)
    missing = [line for line in lines if not line.get("request_id")]
    assert not missing, missing
    # The failure was logged, with its traceback but without its message.
    errors = [line for line in lines if line["level"] == "ERROR" and line.get("exc_info")]
    assert errors and all("message withheld" in line["exc_info"] for line in errors)
    # The console's lines name the signed-in user by their audit label.
    users = {line.get("user") for line in lines if line["logger"] == "refdesk.access"}
    assert "user:p-coordinator" in users


def test_the_access_log_names_url_patterns_never_paths_with_references_or_tokens(json_lines):
    coordinator = make_referrer("trial-prescreening", "study-coordinator")
    client = Client()
    client.get(f"/r/{coordinator.code}?utm_source=x")
    client.get("/r/status/a-signed-token-value")
    client.get(f"/r/{coordinator.code}/thanks/another-signed-token", HTTP_X_REQUEST_ID="probe-1234")
    client.get("/no/such/page/RF-7K3Q-9M2X")

    access = [line for line in json_lines() if line["logger"] == "refdesk.access"]
    assert [(line["method"], line["route"], line["status"]) for line in access] == [
        ("GET", "r/<str:code>", 200),
        ("GET", "r/status/<str:token>", 404),
        ("GET", "r/<str:code>/thanks/<str:token>", 404),
        ("GET", "<unmatched>", 404),
    ]
    assert access[2]["request_id"] == "probe-1234"
    assert all(isinstance(line["duration_ms"], float) for line in access)
    assert all(isinstance(line["size"], int) for line in access)
    text = json.dumps(json_lines())
    for raw in (coordinator.code, "a-signed-token-value", "another-signed-token", "RF-7K3Q"):
        assert raw not in text
    assert "utm_source" not in text


def test_plain_lines_carry_the_request_id_and_user_too(client):
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(PlainFormatter())
    handler.addFilter(RequestContextFilter())
    access = logging.getLogger("refdesk.access")
    access.addHandler(handler)
    try:
        people = make_personas()
        client.force_login(people["agent"])
        client.get("/desk/", HTTP_X_REQUEST_ID="plain-req-0001")
    finally:
        access.removeHandler(handler)
    line = buffer.getvalue().splitlines()[-1]
    assert "INFO refdesk.access [plain-req-0001 user:p-agent] GET desk/ 200" in line


def test_access_log_can_be_turned_off(json_lines, settings):
    settings.REFDESK_ACCESS_LOG = False
    Client().get("/healthz")
    Client().get("/")
    assert not [line for line in json_lines() if line["logger"] == "refdesk.access"]
