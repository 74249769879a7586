"""POST /api/v1/referrals: JSON only (415 otherwise), every malformed body with its documented
code and status (docs/api-errors.md), and the text and country rules (docs/input-rules.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from refdesk.api.errors import _PYDANTIC_CODES
from refdesk.api.parser import MAX_DEPTH, MalformedBody, TooDeep, UnsupportedMediaType
from refdesk.intake.models import Referral, Rejection
from refdesk.testing import changed, make_partner, valid_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/referrals"
ROOT = Path(__file__).resolve().parents[3]
SECRET = "Zebulonquartz"  # a value that must never come back in an error


@pytest.fixture
def partner(db):
    return make_partner("patient-support")


def post_raw(client, partner, body: bytes, content_type: str | None = "application/json"):
    if content_type is None:
        # Django's test client always sends a type; a bare request sends none.
        return client.generic("POST", URL, body, CONTENT_TYPE="", **partner.auth)
    return client.generic("POST", URL, body, content_type=content_type, **partner.auth)


def post(client, partner, body: dict):
    return post_raw(client, partner, json.dumps(body).encode())


def only_error(response) -> tuple[int, str | None, str]:
    (item,) = response.json()["errors"]
    return response.status_code, item["field"], item["code"]


def valid_bytes() -> bytes:
    return json.dumps(valid_body("patient-support")).encode()


# --- the content type ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_that_is_not_declared_json_is_415(client, partner, content_type):
    response = post_raw(client, partner, valid_bytes(), content_type)
    assert only_error(response) == (415, "body", "unsupported_media_type")
    assert Referral.objects.count() == 0
    assert list(Rejection.objects.values_list("code", flat=True)) == ["unsupported_media_type"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_with_or_without_a_utf8_charset_is_accepted(client, partner, content_type):
    assert post_raw(client, partner, valid_bytes(), content_type).status_code == 201


def test_the_openapi_document_describes_the_415(client):
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/referrals"]["post"]
    assert "415" in operation["responses"]


# --- malformed bodies ---------------------------------------------------------------------------

MALFORMED = {
    "empty": (b"", 422, "required"),
    "not JSON": (b"{not json", 422, "invalid_json"),
    "truncated": (b'{"program": "patient-support", "lead": {', 422, "invalid_json"),
    "NaN": (b'{"program": NaN}', 422, "invalid_json"),
    "Infinity": (b'{"program": Infinity}', 422, "invalid_json"),
    "byte-order mark": (b'\xef\xbb\xbf{"program": "patient-support"}', 422, "invalid_json"),
    "invalid UTF-8": (b'{"program": "\xff\xfe"}', 422, "invalid_json"),
    "UTF-16": ('{"program": "x"}'.encode("utf-16"), 422, "invalid_json"),
    "duplicate key": (b'{"program": "a", "program": "b"}', 422, "invalid_json"),
    "nested duplicate key": (b'{"lead": {"email": "a", "email": "b"}}', 422, "invalid_json"),
    "a 5000-digit number": (b'{"program": ' + b"9" * 5000 + b"}", 422, "invalid_json"),
    "a list": (b"[]", 422, "wrong_type"),
    "a string": (b'"text"', 422, "wrong_type"),
    "a number": (b"1", 422, "wrong_type"),
    "null": (b"null", 422, "wrong_type"),
    "33 levels": (b'{"a": ' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), 422, "too_deep"),
    "5000 levels": (b"[" * 5000 + b"]" * 5000, 422, "too_deep"),
    "200000 levels": (b"[" * 200_000 + b"]" * 200_000, 422, "too_deep"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_each_malformed_body_gets_its_documented_status_and_code(client, partner, case):
    body, status, code = MALFORMED[case]
    response = post_raw(client, partner, body)
    assert only_error(response) == (status, "body", code)
    assert Referral.objects.count() == 0


def test_nesting_up_to_the_limit_is_not_refused_for_its_depth(client, partner):
    body = b'{"a": ' * (MAX_DEPTH - 1) + b"1" + b"}" * (MAX_DEPTH - 1)
    codes = {item["code"] for item in post_raw(client, partner, body).json()["errors"]}
    assert "too_deep" not in codes and "invalid_json" not in codes


def test_a_lone_surrogate_escape_is_invalid_characters(client, partner):
    raw = valid_bytes().replace(b'"lead": {', b'"lead": {"organization": "\\ud800",', 1)
    response = post_raw(client, partner, raw)
    assert only_error(response) == (422, "lead.organization", "invalid_characters")


# --- the text and country rules, through the API -------------------------------------------------


def test_a_right_to_left_override_in_a_name_is_refused_without_echoing_it(client, partner):
    body = changed(valid_body("patient-support"), "lead.given_name", f"{SECRET}\u202eeva")
    response = post(client, partner, body)
    assert only_error(response) == (422, "lead.given_name", "invalid_characters")
    assert SECRET not in response.content.decode()
    assert "direction" in response.json()["errors"][0]["message"]
    assert Referral.objects.count() == 0


@pytest.mark.parametrize("text", ["help\x00please", "help \x1b[2Jplease", "a\u200bb"])
def test_control_and_invisible_characters_in_free_text_are_refused(client, partner, text):
    body = changed(valid_body("patient-support"), "answers.reason_for_contact", text)
    response = post(client, partner, body)
    assert only_error(response) == (422, "answers.reason_for_contact", "invalid_characters")


def test_free_text_keeps_its_lines_and_is_stored_normalised(client, partner):
    text = "Cafe\u0301 visit.\r\nSecond line\tand a tab."
    body = changed(valid_body("patient-support"), "answers.reason_for_contact", text)
    assert post(client, partner, body).status_code == 201
    stored = Referral.objects.get().answers["reason_for_contact"]
    assert stored == "Caf\u00e9 visit.\nSecond line\tand a tab."


@pytest.mark.parametrize("country", ["ZZ", "UK", "EU", "XK", "U1"])
def test_a_country_outside_iso_3166_1_is_refused(client, partner, country):
    body = changed(valid_body("patient-support"), "lead.country", country)
    errors = post(client, partner, body).json()["errors"]
    assert {"field": "lead.country", "code": "invalid_country"} in [
        {"field": e["field"], "code": e["code"]} for e in errors
    ]


@pytest.mark.parametrize("country", ["US", "gb", "AQ"])
def test_an_iso_3166_1_country_is_accepted(client, partner, country):
    body = changed(valid_body("patient-support"), "lead.country", country)
    response = post(client, partner, body)
    assert response.status_code == 201, response.content
    assert Referral.objects.get().lead["country"] == country.upper()


# --- the documentation ----------------------------------------------------------------------------


def _service_codes() -> set[str]:
    """Every code intake's validation and submission checks can give (their error() calls)."""
    codes = set()
    for path in ("refdesk/intake/validation.py", "refdesk/intake/submissions.py"):
        text = (ROOT / path).read_text()
        codes |= set(re.findall(r'error\(\s*(?:f?"[^"]*"|\w+),\s*"([a-z_]+)"', text))
    return codes


def test_every_api_error_code_is_documented():
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs/api-errors.md").read_text()))
    codes = {code for code, _message in _PYDANTIC_CODES.values()} | {"wrong_type", "invalid"}
    codes |= {UnsupportedMediaType.code, MalformedBody.code, TooDeep.code, "too_large"}
    codes |= {"authentication_required", "invalid_api_key", "rate_limited", "invalid_characters"}
    codes |= _service_codes()
    assert len(_service_codes()) > 20  # the pattern still finds them
    assert codes - documented == set()
