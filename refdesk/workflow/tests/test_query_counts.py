"""Query counts of the pages and endpoints that run most: bounded, and not growing with the
referral's history (a timeline of 10 notes reads like one of none).

The figures are today's, on SQLite and PostgreSQL alike; a change that needs more should say
why here."""

from __future__ import annotations

import json

import pytest

from refdesk.intake.links import status_token
from refdesk.testing import (
    SESSION_WRITE_QUERIES,
    coordinator,
    detail_url,
    make_partner,
    submit,
    trial,
    valid_body,
)
from refdesk.workflow.booking import appointment_book, appointment_cancel, next_free_slots
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


# The referral page: 25 statements. The appointments come in one query with their member (the
# booked one among them: no query of its own); the open manual checks in one more; the booking
# form's free times take 5: the team's bookable members twice (the form's member select, and
# next_free_slots), then their booked time, working hours and time off in one query each
# (scheduling.selectors.free_slots) — never per appointment, never per team member.
# Plus the session's write (the idle clock's stamp, every signed-in request).
REFERRAL_PAGE = 25 + SESSION_WRITE_QUERIES


def test_the_referral_page_does_not_grow_with_the_timeline(client, django_assert_max_num_queries):
    referral = submit("trial-prescreening", trial(1))
    user = coordinator()
    client.force_login(user)
    client.get(detail_url(referral))  # the session, warmed
    with django_assert_max_num_queries(REFERRAL_PAGE) as before:
        assert client.get(detail_url(referral)).status_code == 200
    for n in range(10):
        contact_attempt_log(
            referral=referral, channel="phone", outcome="no_answer", note=f"call {n}", actor=user
        )
    with django_assert_max_num_queries(len(before.captured_queries)):
        page = client.get(detail_url(referral))
    assert page.content.decode().count("call ") >= 10


def test_the_referral_page_does_not_grow_with_the_appointments(
    client, django_assert_max_num_queries
):
    referral = submit("trial-prescreening", trial(1))
    user = coordinator()

    def book_and_cancel(n: int) -> None:
        slot = next_free_slots(referral=referral, type_key="prescreen-call", lead=False)[n]
        appointment = appointment_book(
            referral=referral, type_key="prescreen-call", starts_at=slot.starts_at, actor=user
        )
        appointment_cancel(appointment=appointment, actor=user, reason="booked_in_error")

    book_and_cancel(0)  # one appointment (and its messages) to begin with
    client.force_login(user)
    client.get(detail_url(referral))  # the session, warmed
    # + 1: the messages' materials, prefetched once the referral has messages.
    with django_assert_max_num_queries(REFERRAL_PAGE + 1) as before:
        assert client.get(detail_url(referral)).status_code == 200
    for n in range(1, 4):
        book_and_cancel(n)
    with django_assert_max_num_queries(len(before.captured_queries)):
        page = client.get(detail_url(referral))
    assert page.content.decode().count('<span class="status status--cancelled">') == 4


def test_the_referral_page_does_not_grow_with_the_team(client, django_assert_max_num_queries):
    referral = submit("trial-prescreening", trial(1))
    user = coordinator()
    client.force_login(user)
    client.get(detail_url(referral))  # the session, warmed
    with django_assert_max_num_queries(REFERRAL_PAGE) as before:
        assert client.get(detail_url(referral)).status_code == 200
    for n in range(4):
        coordinator(f"colleague{n}")
    with django_assert_max_num_queries(len(before.captured_queries)):
        page = client.get(detail_url(referral))
    assert "colleague3" in page.content.decode()  # offered in the booking form
