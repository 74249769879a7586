"""Query counts of the pages and endpoints that run most: bounded, and not growing with the
referral's history (a timeline of 10 notes reads like one of none).

The figures are today's, on SQLite and PostgreSQL alike; a change that needs more should say
why here."""

from __future__ import annotations

import json

import pytest

from refdesk.intake.links import status_token
from refdesk.testing import (
    coordinator,
    detail_url,
    make_partner,
    submit,
    trial,
    valid_body,
)
from refdesk.workflow.contact import contact_attempt_log

pytestmark = pytest.mark.django_db


def test_a_partner_submission_runs_19_statements(client, django_assert_max_num_queries):
    """Scope check (program, version), key (one join), active version, duplicate lookup,
    reference check, referral, consent, queue, decision, routing UPDATE, assignment
    candidates, the referrer's acknowledgement and the follow-up timers, audit chain (head,
    events, head); 2 more are the test's savepoint."""
    partner = make_partner("trial-prescreening")
    body = valid_body("trial-prescreening", email="q1@example.org", phone="+12125550101")
    with django_assert_max_num_queries(19):
        response = client.post(
            "/api/v1/referrals",
            data=json.dumps(body),
            content_type="application/json",
            **partner.auth,
        )
    assert response.status_code == 201


def test_the_status_page_runs_3_queries(client, django_assert_num_queries):
    referral = submit("trial-prescreening", trial(1))
    with django_assert_num_queries(3):  # the referral, its consent, (its program: joined)
        assert client.get(f"/r/status/{status_token(referral)}").status_code == 200


def test_the_referral_page_does_not_grow_with_the_timeline(client, django_assert_max_num_queries):
    referral = submit("trial-prescreening", trial(1))
    user = coordinator()
    client.force_login(user)
    client.get(detail_url(referral))  # the session, warmed
    with django_assert_max_num_queries(19) as before:  # 19: the booked appointment
        assert client.get(detail_url(referral)).status_code == 200
    for n in range(10):
        contact_attempt_log(
            referral=referral, channel="phone", outcome="no_answer", note=f"call {n}", actor=user
        )
    with django_assert_max_num_queries(len(before.captured_queries)):
        page = client.get(detail_url(referral))
    assert page.content.decode().count("call ") >= 10
