"""GET /api/v1/referrals/{id}, GET /api/v1/programs/{program}, the docs and the schema."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from refdesk.intake.models import Referral
from refdesk.referrers.services import partner_key_revoke
from refdesk.testing import latest_consent_version, make_partner, valid_body, without_ids

pytestmark = pytest.mark.django_db


def submit(client, partner, body=None) -> dict:
    response = client.post(
        "/api/v1/referrals",
        data=json.dumps(body or valid_body("trial-prescreening")),
        content_type="application/json",
        **partner.auth,
    )
    assert response.status_code == 201
    return response.json()


def test_the_submitting_partner_sees_status_only(client, partner):
    created = submit(client, partner)
    response = client.get(f"/api/v1/referrals/{created['id']}", **partner.auth)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "reference",
        "stage",
        "outcome",
        "prescreen_outcome",
        "missing",
        "duplicate_of",
        "received_at",
    }
    assert body["reference"] == created["reference"] and body["stage"] == created["stage"]
    text = without_ids(response.content.decode())  # "555" turns up in random ids by chance
    for value in ("Avery", "Quill", "example.org", "555", "1970", "RDX-301", "Chicago"):
        assert value not in text


def test_missing_items_are_names_only(client, partner):
    body = valid_body("trial-prescreening")
    del body["answers"]["study_id"]
    created = submit(client, partner, body)
    status = client.get(f"/api/v1/referrals/{created['id']}", **partner.auth).json()
    assert status["missing"] == ["answers.study_id"]


def test_anyone_else_gets_the_same_404_as_for_an_unknown_id(client, partner):
    created = submit(client, partner)
    other = make_partner("trial-prescreening")
    url = f"/api/v1/referrals/{created['id']}"
    unknown = client.get(f"/api/v1/referrals/{uuid.uuid4()}", **partner.auth)
    as_other = client.get(url, **other.auth)
    anonymous = client.get(url)
    bad_key = client.get(url, HTTP_AUTHORIZATION="Bearer rdk_nonsense")
    partner_key_revoke(key=partner.record, actor="system:test")
    revoked = client.get(url, **partner.auth)
    responses = [unknown, as_other, anonymous, bad_key, revoked]
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert Referral.objects.filter(public_id=created["id"]).exists()


def test_a_malformed_id_is_422_not_500(client, partner):
    response = client.get("/api/v1/referrals/not-a-uuid", **partner.auth)
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "id",
        "code": "invalid_id",
        "message": "This is not a valid id.",
    }


# -- program definition -------------------------------------------------------------------------


def test_the_program_definition_is_public_and_complete(client):
    response = client.get("/api/v1/programs/trial-prescreening")
    assert response.status_code == 200
    d = response.json()
    assert d["id"] == "trial-prescreening" and d["version"] == 1
    sources = {s["id"]: s for s in d["sources"]}
    assert set(sources) == {"study-coordinator", "site-investigator", "patient-navigator"}
    assert "api" in sources["study-coordinator"]["submission_methods"]
    assert sources["study-coordinator"]["request_types"] == ["trial_prescreen"]
    assert sources["study-coordinator"]["instructions"]["response_time"]
    lead = {f["name"]: f for f in d["lead_fields"]}
    assert lead["given_name"]["required"] is True and lead["given_name"]["example"] == "Maria"
    assert lead["phone"]["required_when"] == {"preferred_contact": {"in": ["phone", "sms"]}}
    assert lead["preferred_contact"]["choices"] == ["phone", "email", "sms"]
    answers = {a["name"]: a for a in d["answers"]}
    assert answers["study_id"]["choices"][0]["value"] == "RDX-301"
    assert answers["ecog"]["type"] == "integer" and answers["ecog"]["max"] == 5
    consent = d["consent"]
    assert consent["current_text_version"] == latest_consent_version("trial-prescreening")
    assert {t["version"] for t in consent["texts"]} >= {consent["current_text_version"]}
    assert consent["texts"][0]["text"].startswith("I agree")
    assert consent["purposes"][0]["id"] == "trial_contact"


def test_the_program_definition_leaves_out_internal_terms(client):
    text = client.get("/api/v1/programs/provider-education").content.decode()
    # Partner agreements and routing are internal.
    assert "AGR-LAB-2026-003" not in text and "medical-review" not in text


def test_an_unknown_program_is_404(client):
    response = client.get("/api/v1/programs/no-such-program")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "unknown_program"


# -- docs and schema ----------------------------------------------------------------------------


def test_the_docs_page_loads_nothing_from_another_host(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "cdn" not in html.lower()


def test_the_openapi_schema_documents_the_operations(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/v1/referrals",
        "/api/v1/referrals/{id}",
        "/api/v1/programs/{program}",
    }
    post = schema["paths"]["/api/v1/referrals"]["post"]
    assert {"201", "401", "403", "409", "422"} <= set(post["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
