"""Schemathesis against /api/v1/openapi.json, in-process over WSGI: generated requests (valid
and invalid) never cause a server error and every response matches the documented schema."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from refdesk.testing import make_partner

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def schema(db):
    from refdesk.wsgi import application

    # Like Django's test client: keep the test's connection (and its transaction) open across
    # the WSGI requests, which would otherwise close it at request end on PostgreSQL.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/referrals", "POST"),
        ("/api/v1/referrals/{id}", "GET"),
        ("/api/v1/programs/{program}", "GET"),
    ],
)
def test_generated_requests_get_no_server_error_and_documented_responses(
    schema, path, method, mode
):
    partner = make_partner("trial-prescreening")
    auth = {"Authorization": f"Bearer {partner.key}"}
    operation = schema[path][method]
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])
    # A program that exists, so the 200 body is checked against its schema too.
    path_parameters = (
        {"program": "trial-prescreening"}
        if path.endswith("{program}") and mode == GenerationMode.POSITIVE
        else None
    )

    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case):
        if mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
            # Within the key's scope, so generated documents reach the service's own checks.
            case.body.update(program="trial-prescreening", source="study-coordinator")
            case.body.pop("referrer_code", None)
        case.call_and_validate(headers=auth, checks=checks)

    run()
