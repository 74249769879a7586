"""POST /api/v1/referrals: submit, idempotency, authentication, validation."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine

from refdesk.api.models import IdempotencyRecord
from refdesk.audit.models import AuditEvent
from refdesk.consent.models import ConsentRecord
from refdesk.intake.models import Referral
from refdesk.referrers.services import partner_key_revoke, referrer_deactivate
from refdesk.testing import API_SOURCES, DELETE, changed, make_partner, valid_body, without_ids

pytestmark = pytest.mark.django_db
URL = "/api/v1/referrals"


def post(client, body, partner=None, key=None, raw=None):
    headers = dict(partner.auth) if partner else {}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers)


def stored():
    return (
        Referral.objects.count(),
        ConsentRecord.objects.count(),
        AuditEvent.objects.filter(action__startswith="referral.").count(),
        IdempotencyRecord.objects.count(),
    )


@pytest.mark.parametrize("program", sorted(API_SOURCES))
def test_a_partner_submits_a_valid_referral_for_each_demo_program(client, program):
    partner = make_partner(program)
    response = post(client, valid_body(program), partner)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "reference",
        "stage",
        "outcome",
        "prescreen_outcome",
        "missing",
        "duplicate_of",
        "route",
    }
    referral = Referral.objects.get(public_id=body["id"])
    assert body["reference"] == referral.reference
    assert referral.submission_method == "api"
    assert referral.referrer == partner.referrer
    assert body["missing"] == [] and body["duplicate_of"] is None
    # Routed on arrival: the decision is explained, and names no patient data.
    assert body["stage"] == referral.stage and referral.queue is not None
    assert body["route"]["queue"] == referral.queue.slug
    assert body["route"]["version"] == referral.program_version.number
    assert body["route"]["rule"] and body["route"]["explanation"]


def test_the_response_holds_no_patient_data(client, partner):
    text = post(client, valid_body("trial-prescreening"), partner).content.decode()
    text = without_ids(text)  # "555" turns up in the referral's random UUID by chance
    for value in ("Avery", "Quill", "example.org", "555", "1970", "Chicago"):
        assert value not in text


def test_an_incomplete_referral_is_accepted_with_its_missing_items(client, partner):
    body = changed(valid_body("trial-prescreening"), "lead.given_name", DELETE)
    response = post(client, body, partner)
    assert response.status_code == 201
    assert response.json()["stage"] == "needs_info"
    assert "lead.given_name" in response.json()["missing"]


def test_a_second_referral_of_the_same_lead_names_the_first_and_follows_it(client, partner):
    """What happens to the lead happens on the first referral: the duplicate's answers say
    where that one stands, as its confirmation and status page do (the duplicate itself is
    stored closed as a duplicate)."""
    first = post(client, valid_body("trial-prescreening"), partner).json()
    second = post(client, valid_body("trial-prescreening"), partner).json()
    assert second["duplicate_of"] == first["reference"]
    assert (second["stage"], second["outcome"]) == (first["stage"], None) == ("queued", None)
    assert Referral.objects.get(public_id=second["id"]).outcome == "duplicate"
    status = client.get(f"/api/v1/referrals/{second['id']}", **partner.auth).json()
    assert (status["stage"], status["duplicate_of"]) == ("queued", first["reference"])


def test_utm_parameters_are_kept_for_attribution(client, partner):
    body = valid_body("trial-prescreening") | {"utm": {"utm_campaign": "spring"}}
    referral_id = post(client, body, partner).json()["id"]
    assert Referral.objects.get(public_id=referral_id).utm_campaign == "spring"


# -- idempotency --------------------------------------------------------------------------------


def test_the_same_key_and_body_twice_returns_the_same_response_and_creates_one(client, partner):
    body = valid_body("trial-prescreening")
    first = post(client, body, partner, key="order-1")
    before = stored()
    # Same document, other key order: still the same request.
    again = post(
        client,
        raw=json.dumps(dict(reversed(body.items()))),
        body=None,
        partner=partner,
        key="order-1",
    )
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert stored() == before
    assert Referral.objects.count() == 1


def test_a_key_reused_for_a_different_body_is_a_conflict(client, partner):
    body = valid_body("trial-prescreening")
    post(client, body, partner, key="order-2")
    before = stored()
    response = post(client, changed(body, "answers.age", 60), partner, key="order-2")
    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "idempotency_key_reused"
    assert stored() == before


def test_idempotency_keys_belong_to_one_partner_key(client):
    first, second = make_partner("trial-prescreening"), make_partner("trial-prescreening")
    a = post(client, valid_body("trial-prescreening"), first, key="k")
    b = post(
        client,
        valid_body("trial-prescreening", email="b@example.org", phone="6175550199"),
        second,
        key="k",
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_failed_request_stores_nothing_so_its_key_can_be_retried(client, partner):
    body = valid_body("trial-prescreening")
    assert post(client, changed(body, "lead.email", "nope"), partner, key="k3").status_code == 422
    assert IdempotencyRecord.objects.count() == 0
    assert post(client, body, partner, key="k3").status_code == 201


# -- authentication -----------------------------------------------------------------------------


def test_no_key_is_401(client):
    response = post(client, valid_body("trial-prescreening"))
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "authentication_required"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_key_is_401(client):
    response = client.post(
        URL,
        data=json.dumps(valid_body("trial-prescreening")),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer rdk_not-a-real-key",
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == "invalid_api_key"


def test_a_revoked_key_is_403_and_stores_nothing(client, partner):
    partner_key_revoke(key=partner.record, actor="system:test")
    before = stored()
    response = post(client, valid_body("trial-prescreening"), partner)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "api_key_revoked"
    assert stored() == before


def test_a_key_of_an_inactive_referrer_is_403(client, partner):
    referrer_deactivate(referrer=partner.referrer, actor="system:test")
    response = post(client, valid_body("trial-prescreening"), partner)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "referrer_inactive"


def test_a_key_of_a_source_without_api_submissions_is_403(client):
    web_only = make_partner("provider-education", "hcp-referral")
    body = valid_body("provider-education") | {"source": "hcp-referral"}
    response = post(client, body, web_only)
    assert response.status_code == 403
    assert response.json()["errors"][0]["code"] == "submission_method_not_accepted"
    assert Referral.objects.count() == 0


# -- validation ---------------------------------------------------------------------------------

TRIAL_CASES = [
    ("lead.email", "not-an-email", "lead.email", "invalid_email"),
    ("lead.phone", "12", "lead.phone", "invalid_phone"),
    ("lead.timezone", "Mars/Olympus_Mons", "lead.timezone", "unknown_timezone"),
    ("request_type", "nope", "request_type", "unknown_request_type"),
    ("consent", DELETE, "consent", "consent_required"),
    ("consent.granted", False, "consent.granted", "consent_required"),
    ("consent.text_version", "1999-01", "consent.text_version", "unknown_consent_text"),
    ("program", "no-such-program", "program", "unknown_program"),
    ("program", "patient-support", "program", "program_not_in_key_scope"),
    ("source", "no-such-source", "source", "unknown_source"),
    ("source", "site-investigator", "source", "source_not_in_key_scope"),
    ("referrer_code", "ZZZZZZZ", "referrer_code", "invalid_referrer_code"),
    ("answers.age", "fifty", "answers.age", "invalid_integer"),
    ("answers.favourite_colour", "blue", "answers.favourite_colour", "unknown_answer"),
    ("lead.birth_year", "1970", "lead.birth_year", "wrong_type"),
    ("lead.given_name", 42, "lead.given_name", "wrong_type"),
    ("consent.granted", "yes", "consent.granted", "wrong_type"),
    ("lead", "Avery Quill", "lead", "wrong_type"),
    ("answers.age", [54], "answers.age", "wrong_type"),
    ("lead.nickname", "Ave", "lead.nickname", "unknown_field"),
    ("lead.preferred_contact", "pigeon", "lead.preferred_contact", "invalid_choice"),
    ("request_type", DELETE, "request_type", "required"),
    ("lead", DELETE, "lead", "required"),
]


@pytest.mark.parametrize(("path", "value", "field", "code"), TRIAL_CASES)
def test_invalid_input_is_422_with_field_and_code_and_nothing_stored(
    client, partner, path, value, field, code
):
    before = stored()
    response = post(client, changed(valid_body("trial-prescreening"), path, value), partner)
    assert response.status_code == 422, response.content
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in response.json()["errors"]
    ]
    assert stored() == before


@pytest.mark.parametrize(
    ("method", "missing", "field"),
    [("email", "lead.email", "lead.email"), ("sms", "lead.phone", "lead.phone")],
)
def test_a_contact_method_without_its_detail_is_422_like_the_web_form(
    client, partner, method, missing, field
):
    # The rule lives in refdesk.intake.submissions: web, API and bulk import refuse alike.
    body = changed(valid_body("trial-prescreening"), "lead.preferred_contact", method)
    before = stored()
    response = post(client, changed(body, missing, DELETE), partner)
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, "contact_detail_required")]
    assert "The person prefers" in errors[0]["message"]
    assert stored() == before


def test_a_referrer_code_of_another_referrer_is_422(client, partner):
    from refdesk.testing import make_referrer

    other = make_referrer("trial-prescreening", "study-coordinator", name="Someone Else")
    body = valid_body("trial-prescreening") | {"referrer_code": other.code}
    response = post(client, body, partner)
    assert response.status_code == 422
    assert response.json()["errors"][0]["code"] == "referrer_code_mismatch"


def test_its_own_referrer_code_is_accepted(client, partner):
    body = valid_body("trial-prescreening") | {"referrer_code": partner.referrer.code.lower()}
    assert post(client, body, partner).status_code == 201


@pytest.mark.parametrize(
    ("path", "value", "field", "code"),
    [
        ("lead.npi", "1234567890", "lead.npi", "invalid_npi"),
        ("request_type", "trial_prescreen", "request_type", "unknown_request_type"),
    ],
)
def test_clinician_lead_checks(client, path, value, field, code):
    lab = make_partner("provider-education")
    response = post(client, changed(valid_body("provider-education"), path, value), lab)
    assert response.status_code == 422
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in response.json()["errors"]
    ]


def test_a_request_type_the_source_may_not_send_is_422(client, monkeypatch):
    # No demo source restricts request types, so narrow one for this test.
    from refdesk.intake import submissions as intake_services

    partner = make_partner("trial-prescreening")
    real = intake_services.version_definition

    def narrowed(version):
        definition = real(version)
        sources = dict(definition.sources)
        sources["study-coordinator"] = sources["study-coordinator"].model_copy(
            update={"request_types": ("other_type",)}
        )
        return definition.model_copy(update={"sources": sources})

    monkeypatch.setattr(intake_services, "version_definition", narrowed)
    response = post(client, valid_body("trial-prescreening"), partner)
    assert response.status_code == 422
    codes = [e["code"] for e in response.json()["errors"]]
    assert "request_type_not_accepted" in codes


@pytest.mark.parametrize(
    "raw", ["{not json", "", "[]", '"text"', "null", b"\xff\xfe".decode("latin-1")]
)
def test_a_body_that_is_not_a_json_object_is_422_in_the_same_shape(client, partner, raw):
    response = post(client, None, partner, raw=raw)
    assert response.status_code == 422, response.content
    errors = response.json()["errors"]
    assert errors and all({"field", "code", "message"} == set(e) for e in errors)
    assert Referral.objects.count() == 0


def test_error_messages_do_not_echo_the_submitted_values(client, partner):
    body = changed(valid_body("trial-prescreening"), "lead.email", "secret-value@@x")
    body = changed(body, "lead.birth_year", "secret-year")
    text = post(client, body, partner).content.decode()
    assert "secret" not in text


# Frozen: the limit counts per fixed minute, and a minute turning mid-test would reset it.
@time_machine.travel(dt.datetime(2026, 3, 2, 15, 0, 5, tzinfo=dt.UTC), tick=False)
def test_a_key_over_its_rate_limit_gets_429_and_nothing_is_stored(client, partner, settings):
    settings.REFDESK_RATE_LIMITS = {"api.partner_key": (2, 60)}
    body = valid_body("trial-prescreening")
    assert post(client, body, partner).status_code == 201
    assert post(client, changed(body, "lead.email", "x"), partner).status_code == 422
    before = stored()
    response = post(client, body, partner)
    assert response.status_code == 429
    assert response.json()["errors"][0]["code"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    assert stored() == before
