"""The drug-safety pages: /desk/safety/notices and one notice (acknowledge, triage).

End to end as the ``safety`` persona, through the pages only: a possible adverse event at
intake is listed, acknowledged, triaged with a case id and closed, every step audited. Refused
actions keep what was typed and focus an error summary; other roles get 404 and change nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, connections
from django.template import Context, Template
from django.test import Client
from django.test.utils import CaptureQueriesContext

from refdesk.access.selectors import PATIENT_DATA_VIEWED
from refdesk.accounts.choices import Role
from refdesk.audit.models import AuditEvent
from refdesk.routing.models import QueueNotice
from refdesk.testing import (
    adverse_event_referral,
    apply_demo_programs,
    demo_programs_present,
    make_personas,
    safety_officer,
    staff,
    submit,
    support,
)
from refdesk.workflow.safety import notice_acknowledge

pytestmark = pytest.mark.django_db

LIST_URL = "/desk/safety/notices"
# A Monday before daylight saving time starts in New York (8 March 2026): 09:30 EST.
RECEIVED = dt.datetime(2026, 3, 2, 14, 30, tzinfo=dt.UTC)
PATIENT_WORDS = ("Alex", "Moreno", "2125550101", "rash")


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(RECEIVED + dt.timedelta(hours=2), tick=False)


@pytest.fixture
def officer(client):
    user = safety_officer()
    client.force_login(user)
    return user


@pytest.fixture
def notice():
    referral = adverse_event_referral(1, received_at=RECEIVED)
    return QueueNotice.objects.select_related("referral").get(referral=referral)


def notice_url(notice, action: str = "") -> str:
    return f"/desk/safety/notices/{notice.public_id}" + (f"/{action}" if action else "")


def page(response) -> str:
    return response.content.decode()


def title(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def rows(html: str) -> list[str]:
    body = re.search(r"<tbody>(.*)</tbody>", html, re.S)
    return re.findall(r">(RF-[0-9A-Z]{4}-[0-9A-Z]{4})<", body.group(1)) if body else []


def test_the_officer_works_a_possible_adverse_event_from_intake_to_closed(
    client, officer, notice, frozen
):
    reference = notice.referral.reference
    # 1. Listed, with day 0 and the triage clock in the officer's zone (the team's: New York).
    listed = page(client.get(LIST_URL))
    assert rows(listed) == [reference]
    assert "Mon 2 Mar 2026, 09:30 EST" in listed  # day 0
    assert "Tue 3 Mar 2026, 09:30 EST" in listed and "due in 22 h 0 min" in listed
    assert "Drug safety" in listed and 'class="desk-nav-count">1<' in listed

    # 2. The notice: header, clocks, the flagged text and the lead (audited).
    shown = page(client.get(notice_url(notice)))
    assert reference in shown and "Patient support" in shown
    assert "Tue 17 Mar 2026, 10:30 EDT" in shown  # expedited report: day 0 + 15 calendar days
    assert "Reports a rash and a bad side effect" in shown and "Moreno" in shown
    viewed = AuditEvent.objects.get(action=PATIENT_DATA_VIEWED)
    assert viewed.changes["purpose"]["new"] == "safety_notice"

    # 3. Acknowledge: a plain POST, a redirect, a confirmation.
    acknowledged = client.post(notice_url(notice, "acknowledge"))
    assert acknowledged.status_code == 302 and acknowledged["Location"] == notice_url(notice)
    shown = page(client.get(acknowledged["Location"]))
    assert f"Notice for referral {reference} acknowledged." in shown
    assert "Acknowledged by sana.safety" in shown

    # 4. Triage with a case id: closed, audited, confirmed.
    triaged = client.post(
        notice_url(notice, "triage"),
        {"decision": "ae_serious", "case_id": "AE-2026-000123", "note": "Seen in clinic."},
    )
    assert triaged.status_code == 302
    shown = page(client.get(triaged["Location"]))
    assert f"Notice for referral {reference} triaged (Adverse event, serious) and closed." in shown
    assert "Closed: Adverse event, serious" in shown and "AE-2026-000123" in shown
    assert 'name="decision"' not in shown  # no triage form on a closed notice
    stored = QueueNotice.objects.get(pk=notice.pk)
    assert stored.closed_at is not None and stored.triage_decision == "ae_serious"
    actions = list(
        AuditEvent.objects.filter(subject_id=str(notice.referral.public_id))
        .filter(action__in=["notice.acknowledged", "notice.triaged"])
        .values_list("action", "actor")
    )
    assert actions == [
        ("notice.acknowledged", "user:sana.safety"),
        ("notice.triaged", "user:sana.safety"),
    ]

    # 5. Off the open list, on the closed one.
    assert rows(page(client.get(LIST_URL))) == []
    assert "No open notices" in page(client.get(LIST_URL))
    closed = page(client.get(LIST_URL + "?show=closed"))
    assert rows(closed) == [reference] and "AE-2026-000123" in closed


def test_needs_follow_up_stays_on_the_open_list(client, officer, notice, frozen):
    response = client.post(notice_url(notice, "triage"), {"decision": "needs_follow_up"})
    shown = page(client.get(response["Location"]))
    assert "it stays open for follow-up" in shown and 'name="decision"' in shown
    listed = page(client.get(LIST_URL))
    assert rows(listed) == [notice.referral.reference] and "Needs follow-up" in listed


def test_open_notices_come_triage_due_soonest_first_with_overdue_marked(
    client, officer, time_machine
):
    fresh = adverse_event_referral(1, received_at=RECEIVED)
    older = adverse_event_referral(2, received_at=RECEIVED - dt.timedelta(days=2))
    time_machine.move_to(RECEIVED + dt.timedelta(hours=1), tick=False)
    listed = page(client.get(LIST_URL))
    assert rows(listed) == [older.reference, fresh.reference]
    assert "1 notice overdue for triage." in listed
    assert "overdue by 1 d 1 h" in listed and "due in 23 h 0 min" in listed


def test_a_refused_triage_keeps_what_was_typed_and_focuses_the_error_summary(
    client, officer, notice, frozen
):
    before = AuditEvent.objects.count()
    response = client.post(
        notice_url(notice, "triage"),
        {"decision": "ae_serious", "case_id": "AE 2026", "note": "Typed with care."},
    )
    assert response.status_code == 422
    html = page(response)
    assert title(html).startswith("Error: Drug-safety notice")
    summary_tag = r'<div class="error-summary[^"]*" role="alert" tabindex="-1"[^>]*>(.*?)</div>'
    summary = re.search(summary_tag, html, re.S)
    assert summary and 'href="#case-id"' in summary.group(1)
    assert 'id="case-id-error"' in html and 'aria-invalid="true"' in html
    assert 'value="AE 2026"' in html and "Typed with care.</textarea>" in html
    assert re.search(r'value="ae_serious"[^>]*checked', html)
    assert AuditEvent.objects.filter(action__startswith="notice.t").count() == 0
    assert AuditEvent.objects.exclude(action=PATIENT_DATA_VIEWED).count() == before
    assert QueueNotice.objects.get(pk=notice.pk).closed_at is None


def test_a_triage_without_a_decision_points_at_the_radios(client, officer, notice, frozen):
    response = client.post(notice_url(notice, "triage"), {"case_id": "AE-1"})
    assert response.status_code == 422
    html = page(response)
    assert 'href="#decision-not_ae">Choose a triage decision for this notice.</a>' in html
    assert 'id="decision-error"' in html and 'value="AE-1"' in html
    assert QueueNotice.objects.get(pk=notice.pk).acknowledged_at is None


def test_a_second_acknowledgement_is_refused_naming_who_acknowledged(
    client, officer, notice, frozen
):
    colleague = staff("sam.safety", Role.DRUG_SAFETY_OFFICER, "drug-safety")
    notice_acknowledge(notice=notice, user=colleague)
    response = client.post(notice_url(notice, "acknowledge"))
    assert response.status_code == 409
    assert "already acknowledged by sam.safety" in page(response)
    assert 'role="alert"' in page(response)


@pytest.mark.parametrize(
    "persona",
    ["agent", "coordinator", "specialist", "reviewer", "rep", "owner", "auditor", "admin"],
)
def test_every_other_role_gets_404_and_changes_nothing(client, notice, persona):
    client.force_login(make_personas()[persona])
    for method, url, data in [
        ("get", LIST_URL, None),
        ("get", LIST_URL + "?show=closed", None),
        ("get", notice_url(notice), None),
        ("post", notice_url(notice, "acknowledge"), None),
        ("post", notice_url(notice, "triage"), {"decision": "not_ae"}),
    ]:
        response = getattr(client, method)(url, data or {})
        assert response.status_code == 404, (persona, url)
    stored = QueueNotice.objects.get(pk=notice.pk)
    assert stored.acknowledged_at is None and stored.closed_at is None
    assert "/desk/safety/notices" not in page(client.get("/desk/"))  # no navigation link


def test_an_unknown_notice_is_the_same_404_as_one_of_another_team(client, notice):
    elsewhere = staff("otto.safety", Role.DRUG_SAFETY_OFFICER, "patient-services")
    client.force_login(elsewhere)
    foreign = client.get(notice_url(notice))
    unknown = client.get("/desk/safety/notices/00000000-0000-4000-8000-000000000000")
    assert foreign.status_code == unknown.status_code == 404
    assert page(foreign) == page(unknown)


def test_no_patient_data_in_urls_titles_or_messages(client, officer, notice, frozen):
    shown = []
    for url, data in [
        (notice_url(notice, "acknowledge"), {}),
        (notice_url(notice, "triage"), {"decision": "not_ae"}),
    ]:
        response = client.post(url, data)
        assert re.fullmatch(r"/desk/safety/notices/[0-9a-f-]{36}", response["Location"])
        shown.append(page(client.get(response["Location"])))
    for html in shown:
        messages = " ".join(re.findall(r'<p class="desk-message[^"]*">(.*?)</p>', html, re.S))
        assert f"Notice for referral {notice.referral.reference}" in messages
        for word in PATIENT_WORDS:
            assert word not in title(html) and word not in messages
    listed = page(client.get(LIST_URL + "?show=closed"))
    assert not any(word in listed for word in PATIENT_WORDS)  # the list shows no lead data


def test_the_navigation_link_costs_one_query_and_only_officers_see_it(notice):
    template = Template("{% include 'desk/_nav_safety.html' %}")
    officer = safety_officer()
    agent = make_personas()["agent"]
    with CaptureQueriesContext(connection) as queries:
        html = template.render(Context({"user": officer}))
    assert len(queries) == 1
    assert "/desk/safety/notices" in html and ">1<" in html
    for user in (agent, AnonymousUser()):
        with CaptureQueriesContext(connection) as none:
            assert template.render(Context({"user": user})).strip() == ""
        assert len(none) == 0


def test_the_officer_opens_the_noticed_referral_read_only(client, officer, notice):
    response = client.get(f"/desk/referrals/{notice.referral.public_id}")
    assert response.status_code == 200
    claimed = client.post(f"/desk/referrals/{notice.referral.public_id}/actions/claim")
    assert claimed.status_code == 404
    plain = submit("patient-support", support(4))
    assert client.get(f"/desk/referrals/{plain.public_id}").status_code == 404


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite serialises writers; the race needs PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_two_officers_acknowledging_at_the_same_moment_one_wins_one_is_told():
    if not demo_programs_present():  # a transactional test before this one flushed them
        apply_demo_programs()
    notice = adverse_event_referral(1).notices.get()
    officers = [safety_officer(), staff("sam.safety", Role.DRUG_SAFETY_OFFICER, "drug-safety")]
    barrier = threading.Barrier(len(officers))
    statuses: list[int] = []

    def acknowledge(user):
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            statuses.append(client.post(notice_url(notice, "acknowledge")).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=acknowledge, args=(user,)) for user in officers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302, 409]
    assert AuditEvent.objects.filter(action="notice.acknowledged").count() == 1


def test_the_referral_page_hook_links_the_notice_for_the_officer_only(notice):
    template = Template("{% include 'desk/_safety_notice_link.html' %}")
    people = make_personas()
    html = template.render(Context({"user": people["safety"], "notice": notice}))
    assert f"/desk/safety/notices/{notice.public_id}" in html and "(New)" in html
    for persona in ("agent", "owner", "auditor"):
        assert template.render(Context({"user": people[persona], "notice": notice})).strip() == ""
