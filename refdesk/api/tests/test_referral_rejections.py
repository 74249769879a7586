"""POST /api/v1/referrals refused for its content is counted in the rejection statistics; a
request that is no submission (no key, a revoked key, another endpoint) is not."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError

from refdesk.intake.models import Rejection
from refdesk.referrers.services import partner_key_revoke
from refdesk.testing import DELETE, changed, random_id, valid_body

pytestmark = pytest.mark.django_db
URL = "/api/v1/referrals"
PROGRAM, SOURCE = "trial-prescreening", "study-coordinator"
# Distinctive values: none may reach a statistics row.
PHONE, EMAIL = "0199 4242 0199 4242 77", "zebulon.quartz@nowhere-such"


def post(client, body=None, partner=None, raw=None, **headers):
    if partner is not None:
        headers.update(partner.auth)
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers)


def rows():
    return sorted(
        Rejection.objects.values_list("program__slug", "source__slug", "method", "field", "code")
    )


def test_the_services_field_errors_are_one_row_each_without_any_value(client, partner):
    body = valid_body(PROGRAM, email=EMAIL, phone=PHONE)
    response = post(client, body, partner)
    assert response.status_code == 422
    assert rows() == [
        (PROGRAM, SOURCE, "api", "lead.email", "invalid_email"),
        (PROGRAM, SOURCE, "api", "lead.phone", "invalid_phone"),
    ]
    stored = json.dumps(list(Rejection.objects.values()), default=str)
    for value in ("4242", "0199", "zebulon", "quartz", "nowhere", "Avery", "Quill"):
        assert value not in stored


def test_request_validation_errors_are_counted_and_made_up_names_are_not_kept(client, partner):
    body = changed(valid_body(PROGRAM), "request_type", DELETE)
    body = changed(body, "lead.Zebulon Quartz", "hello")  # a name the submitter made up
    body = changed(body, "lead.birth_year", "nineteen seventy")
    response = post(client, body, partner)
    assert response.status_code == 422
    assert rows() == [
        (PROGRAM, SOURCE, "api", "lead.*", "unknown_field"),
        (PROGRAM, SOURCE, "api", "lead.birth_year", "wrong_type"),
        (PROGRAM, SOURCE, "api", "request_type", "required"),
    ]
    assert "Zebulon" not in json.dumps(list(Rejection.objects.values()), default=str)


def test_a_body_that_is_not_json_is_counted(client, partner):
    assert post(client, raw="{not json", partner=partner).status_code == 422
    assert rows() == [(PROGRAM, SOURCE, "api", "body", "invalid_json")]


def test_a_program_outside_the_keys_scope_is_counted_against_the_keys_own(client, partner):
    body = changed(valid_body(PROGRAM), "program", "patient-support")
    assert post(client, body, partner).status_code == 422
    assert rows() == [(PROGRAM, SOURCE, "api", "program", "program_not_in_key_scope")]


def test_a_successful_submission_records_nothing(client, partner):
    assert post(client, valid_body(PROGRAM), partner).status_code == 201
    assert Rejection.objects.count() == 0


def test_requests_without_a_working_key_are_not_submissions(client, partner):
    bad = changed(valid_body(PROGRAM), "request_type", DELETE)
    assert post(client, bad).status_code == 401  # no key
    assert post(client, bad, HTTP_AUTHORIZATION="Bearer rdk_nonsense").status_code == 401
    partner_key_revoke(key=partner.record, actor="system:test", reason="test")
    assert post(client, bad, partner).status_code == 403
    assert Rejection.objects.count() == 0


def test_other_endpoints_are_not_submissions(client, partner):
    response = client.get(f"{URL}/not-a-uuid", **partner.auth)
    assert response.status_code == 422
    assert client.get(f"{URL}/{random_id()}", **partner.auth).status_code == 404
    assert Rejection.objects.count() == 0


def test_a_failure_to_record_keeps_the_partners_422(client, partner, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("the statistics table is gone")

    monkeypatch.setattr(Rejection.objects, "bulk_create", broken)
    response = post(client, valid_body(PROGRAM, phone=PHONE), partner)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "invalid_phone"


def test_a_body_over_the_size_limit_is_counted(client, partner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    assert post(client, valid_body(PROGRAM), partner).status_code == 413
    assert rows() == [(PROGRAM, SOURCE, "api", "body", "too_large")]
