"""The queue pages: /desk/ and /desk/queues/<slug> (filters, SLA, seek paging, claim)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from refdesk.access.selectors import PATIENT_DATA_VIEWED
from refdesk.audit.models import AuditEvent
from refdesk.desk.tests.lists import QUEUE_URL, logged_in, references, trials
from refdesk.intake.choices import Stage
from refdesk.testing import submit, support

pytestmark = pytest.mark.django_db


def test_the_index_lists_only_the_users_queues_with_their_counts(client, people, frozen):
    trials(2, days_ago=10)  # breached
    trials(1, start=5)
    page = logged_in(client, people["coordinator"]).get("/desk/").content.decode()
    assert "Clinical operations" in page or "clinical-ops-prescreening" in page
    assert "/desk/queues/clinical-ops-prescreening" in page
    assert "/desk/queues/patient-services" not in page
    counts = dict(re.findall(r'data-count="(\w+)">(?:<span[^>]*>)?(\d+)', page))
    assert counts == {"open": "3", "unassigned": "3", "breached": "2"}


def test_a_queue_of_another_team_is_the_same_404_as_a_missing_one(client, people):
    client = logged_in(client, people["agent"])
    foreign = client.get(QUEUE_URL)
    missing = client.get("/desk/queues/no-such-queue")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content == missing.content


def test_anonymous_visitors_are_sent_to_the_login_page(client, people):
    response = client.get(QUEUE_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_rows_are_sorted_by_due_time_with_countdown_and_breach_badge(client, people, frozen):
    late = trials(1, start=1, days_ago=10)
    fresh = trials(2, start=2)
    page = logged_in(client, people["coordinator"]).get(QUEUE_URL)
    assert references(page) == [
        r.reference
        for r in sorted(late + fresh, key=lambda r: (r.first_response_due_at, str(r.public_id)))
    ]
    html = page.content.decode()
    assert html.count("SLA breached") == 1
    assert "breached " in html and "due in " in html


def test_filters_narrow_the_list(client, people, frozen):
    [late] = trials(1, days_ago=10)
    on_time = trials(2, start=1)
    client = logged_in(client, people["coordinator"])
    assert references(client.get(QUEUE_URL, {"sla": "breached"})) == [late.reference]
    assert set(references(client.get(QUEUE_URL, {"sla": "on_time"}))) == {
        r.reference for r in on_time
    }
    client.post(f"{QUEUE_URL}/referrals/{late.public_id}/claim")
    assert references(client.get(QUEUE_URL, {"assignee": "me"})) == [late.reference]
    assert late.reference not in references(client.get(QUEUE_URL, {"assignee": "unassigned"}))
    assert references(client.get(QUEUE_URL, {"stage": Stage.IN_PROGRESS})) == [late.reference]
    assert references(client.get(QUEUE_URL, {"request_type": "helpline_callback"})) == []
    assert len(references(client.get(QUEUE_URL, {"source": "study-coordinator"}))) == 3
    # A bad value is dropped, the page still renders.
    assert client.get(QUEUE_URL, {"sla": "<script>", "stage": "nope"}).status_code == 200


def test_seek_paging_walks_every_row_once_without_offset(client, people, frozen):
    made = trials(12)
    client = logged_in(client, people["coordinator"])
    seen, query = [], {"size": "5"}
    while True:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(QUEUE_URL, query)
        assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)
        seen += references(response)
        found = re.search(r'href="\?([^"]*after=[^"]*)" rel="next"', response.content.decode())
        if not found:
            break
        query = dict(pair.split("=", 1) for pair in found.group(1).replace("&amp;", "&").split("&"))
    assert sorted(seen) == sorted(r.reference for r in made)
    assert len(seen) == len(set(seen))


def test_a_garbage_cursor_shows_the_first_page(client, people, frozen):
    trials(2)
    response = logged_in(client, people["coordinator"]).get(QUEUE_URL, {"after": "%%%"})
    assert len(references(response)) == 2


def test_lead_names_show_for_the_worker_and_are_audited(client, people, frozen):
    [referral] = trials(1)
    page = logged_in(client, people["coordinator"]).get(QUEUE_URL).content.decode()
    assert "Avery Quill" in page
    event = AuditEvent.objects.get(action=PATIENT_DATA_VIEWED)
    assert event.subject_id == str(referral.public_id)


def test_lead_names_are_masked_for_the_program_owner(client, people, frozen):
    trials(1)
    page = logged_in(client, people["owner"]).get(QUEUE_URL).content.decode()
    assert "Avery" not in page and "Quill" not in page
    assert "•••••" in page
    assert '/claim"' not in page  # the owner assigns, never claims (no claim form)
    assert not AuditEvent.objects.filter(action=PATIENT_DATA_VIEWED).exists()


def test_claim_moves_the_referral_to_the_user_and_returns_to_the_filtered_page(
    client, people, frozen
):
    [referral] = trials(1)
    client = logged_in(client, people["coordinator"])
    response = client.post(
        f"{QUEUE_URL}/referrals/{referral.public_id}/claim",
        {"query": "sla=on_time&evil=http://x"},
    )
    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE_URL}?sla=on_time"
    referral.refresh_from_db()
    assert (referral.stage, referral.assigned_to) == (Stage.IN_PROGRESS, people["coordinator"])
    # Claimed meanwhile: a message, not an error page.
    again = client.post(f"{QUEUE_URL}/referrals/{referral.public_id}/claim", follow=True)
    assert again.status_code == 200 and "was not claimed" in again.content.decode()


def test_claim_over_htmx_answers_with_the_row_alone(client, people, frozen):
    [referral] = trials(1)
    response = logged_in(client, people["coordinator"]).post(
        f"{QUEUE_URL}/referrals/{referral.public_id}/claim", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith("<tr") and "<html" not in html
    assert "In progress" in html and 'data-shortcut="claim"' not in html


def test_claim_without_the_right_is_the_same_404_as_a_missing_referral(client, people, frozen):
    [referral] = trials(1)
    [elsewhere] = [submit("patient-support", support(40))]
    owner = logged_in(client, people["owner"])
    refused = owner.post(f"{QUEUE_URL}/referrals/{referral.public_id}/claim")
    wrong_queue = owner.post(f"{QUEUE_URL}/referrals/{elsewhere.public_id}/claim")
    missing = owner.post(f"{QUEUE_URL}/referrals/00000000-0000-4000-8000-000000000000/claim")
    assert refused.status_code == wrong_queue.status_code == missing.status_code == 404
    assert refused.content == wrong_queue.content == missing.content
    assert client.get(f"{QUEUE_URL}/referrals/{referral.public_id}/claim").status_code == 405


def test_the_queue_page_runs_the_same_number_of_queries_for_5_and_50_rows(client, people, frozen):
    client = logged_in(client, people["coordinator"])
    trials(5)
    client.get(QUEUE_URL, {"size": "50"})  # warm the session
    with CaptureQueriesContext(connection) as five:
        assert len(references(client.get(QUEUE_URL, {"size": "50"}))) == 5
    trials(45, start=5)
    with CaptureQueriesContext(connection) as fifty:
        assert len(references(client.get(QUEUE_URL, {"size": "50"}))) == 50
    assert len(five.captured_queries) == len(fifty.captured_queries)
    # Session, user, teams, queue, filter choices, keys (one UNION on PostgreSQL; one query per
    # stage part on SQLite), rows, the audit batch and the session save.
    assert len(fifty.captured_queries) <= 25


def selected_size(response) -> list[str]:
    select = re.search(r'<select name="size"[^>]*>(.*?)</select>', response.content.decode(), re.S)
    return re.findall(r'<option value="(\d+)" selected>', select.group(1))


def test_the_filter_form_keeps_the_page_size_the_list_uses(client, people, frozen):
    """Without ``size`` in the URL the list shows 25 rows, and the form must say 25: a select
    with nothing selected shows (and submits) its first option, 5, so pressing Filter would
    silently cut the list to 5 rows (found in a browser walkthrough)."""
    client = logged_in(client, people["coordinator"])
    assert selected_size(client.get(QUEUE_URL)) == ["25"]
    assert selected_size(client.get(QUEUE_URL, {"size": "nope"})) == ["25"]
    assert selected_size(client.get(QUEUE_URL, {"size": "50"})) == ["50"]
