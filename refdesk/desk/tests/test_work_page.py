"""The referral page as a work tool: one primary next step, every action answers (a
confirmation, or the error beside its field and in a focused summary, keeping what was typed),
human words, and times in the reader's zone with the lead's beside them."""

from __future__ import annotations

import re

import pytest
import time_machine

from refdesk.audit.models import AuditEvent
from refdesk.intake.choices import OUTCOME_REASONS, Stage
from refdesk.intake.models import Referral
from refdesk.testing import (
    action_url,
    coordinator,
    detail_url,
    education,
    login,
    phone,
    reviewer,
    specialist,
    submit,
    trial,
    trial_submission,
)
from refdesk.workflow.assignment import referral_claim
from refdesk.workflow.contact import contact_attempt_log

pytestmark = pytest.mark.django_db


def next_step(page: str) -> str:
    return page.split('id="next-heading"')[1].split('class="more-actions"')[0]


def primary_action(page: str) -> str | None:
    match = re.search(r'class="primary-action" id="act-([a-z_]+)"', page)
    return match.group(1) if match else None


def open_forms(page: str) -> list[str]:
    return re.findall(r'<details class="action-menu" id="act-([a-z_]+)" open>', page)


@pytest.fixture
def claimed():
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    referral_claim(referral=referral, user=user)
    return user, Referral.objects.get(pk=referral.pk)


# --- one primary next step -----------------------------------------------------------------


def test_a_queued_referral_puts_claim_first_and_the_rest_in_a_closed_menu(client):
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert primary_action(page) == "claim"
    assert "/actions/claim" in next_step(page)
    assert '<details class="action-menu" id="act-log_contact">' in page  # closed until asked
    assert open_forms(page) == []


def test_once_claimed_contact_comes_first_and_after_reaching_the_lead_qualifying(client, claimed):
    user, referral = claimed
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert primary_action(page) == "log_contact"  # the prescreen was recorded at intake
    contact_attempt_log(referral=referral, channel="phone", outcome="reached", note="", actor=user)
    page = client.get(detail_url(referral)).content.decode()
    assert primary_action(page) == "qualify"


def test_without_a_prescreen_outcome_recording_it_comes_before_contact(client):
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    Referral.objects.filter(pk=referral.pk).update(prescreen_outcome="")
    referral_claim(referral=Referral.objects.get(pk=referral.pk), user=user)
    page = login(client, user).get(detail_url(referral)).content.decode()
    assert primary_action(page) == "record_prescreen"


def test_the_reviewer_sees_the_clinical_question_beside_approve_and_reject(client):
    specialist()
    referral = submit(
        "provider-education",
        education(1, request_type="clinical_question", question="Dosing in renal impairment?"),
    )
    page = login(client, reviewer()).get(detail_url(referral)).content.decode()
    step = next_step(page)
    assert "Dosing in renal impairment?" in step
    assert step.index("Dosing in renal") < step.index("/actions/approve_review")
    assert "/actions/reject_review" in step


def test_no_outcome_field_comes_with_a_choice_made_for_the_user(client, claimed):
    user, referral = claimed
    page = login(client, user).get(detail_url(referral)).content.decode()
    for name in ("outcome", "outcome_reason", "reason_code", "prescreen_outcome", "channel"):
        assert not re.search(rf'name="{name}" value="[^"]*"[^>]* checked', page), name
        assert not re.search(rf'name="{name}"[^>]*>\s*<option[^>]* selected', page), name


def test_the_close_form_offers_each_outcome_only_its_own_reason_codes(client, claimed):
    user, referral = claimed
    page = login(client, user).get(detail_url(referral)).content.decode()
    close = page.split('id="act-close"')[1].split("</details>")[0]
    pairs = re.findall(r'name="outcome_reason" value="([a-z_]+):([a-z_]+)"', close)
    assert pairs
    assert all(code in OUTCOME_REASONS[outcome] for outcome, code in pairs)
    assert {outcome for outcome, _ in pairs} == {
        "unreachable",
        "declined",
        "withdrawn",
        "duplicate",
        "entered_in_error",
    }
    assert "No answer after every contact attempt" in close and "retries_exhausted<" not in close


def test_a_reason_code_of_another_outcome_is_refused_and_nothing_is_written(client, claimed):
    user, referral = claimed
    response = login(client, user).post(
        action_url(referral, "close"), {"outcome_reason": "declined:retries_exhausted"}
    )
    assert response.status_code == 422
    assert Referral.objects.get(pk=referral.pk).stage == Stage.IN_PROGRESS
    assert "Choose an outcome and its reason from the list." in response.content.decode()


# --- every action answers ------------------------------------------------------------------


def test_a_failed_action_keeps_what_was_typed_and_focuses_a_summary_linking_the_field(
    client, claimed
):
    user, referral = claimed
    response = login(client, user).post(
        action_url(referral, "close"), {"note": "Tried three numbers <b>"}
    )
    page = response.content.decode()
    assert response.status_code == 422
    title = page.split("<title>")[1].split("</title>")[0]
    assert title.startswith("Error: ")
    summary = page.split('id="error-summary"')[1].split("</div>")[0]
    assert "autofocus" in page.split('id="error-summary"')[0][-200:] + summary[:40]
    assert 'href="#f-close-outcome"' in summary and "Choose an outcome and its reason." in summary
    # The summary comes before everything else on the record.
    assert page.index('id="error-summary"') < page.index('class="ref-head"')
    assert open_forms(page) == ["close"]  # the failed form is open again ...
    assert "Tried three numbers &lt;b&gt;</textarea>" in page  # ... with the note kept, escaped
    assert 'class="field-error" id="e-close-outcome"' in page  # and the error beside the field


def test_a_failed_htmx_action_answers_with_the_body_and_its_summary(client, claimed):
    user, referral = claimed
    response = login(client, user).post(
        action_url(referral, "log_contact"),
        {"party": "lead", "outcome": "reached", "note": "spoke briefly"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert page.lstrip().startswith('<div id="referral"')
    assert 'href="#f-log_contact-channel"' in page
    assert 'name="outcome" value="reached" checked' in page  # the choice kept
    assert "spoke briefly</textarea>" in page


def test_success_shows_a_confirmation_after_the_redirect(client, claimed):
    user, referral = claimed
    login(client, user)
    response = client.post(
        action_url(referral, "log_contact"),
        {"party": "lead", "channel": "phone", "outcome": "no_answer"},
        follow=True,
    )
    page = response.content.decode()
    region = page.split('id="desk-messages"')[1].split("</div>")[0]
    assert 'role="status"' in region
    assert f"Contact attempt logged on {referral.reference}." in region


def test_success_through_htmx_fills_the_live_region_out_of_band(client):
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    response = login(client, user).post(action_url(referral, "claim"), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    oob = page.split('id="desk-messages"')[1].split("</div>")[0]
    assert 'hx-swap-oob="true"' in oob
    assert f"You claimed {referral.reference}" in oob


# --- words and times -----------------------------------------------------------------------


def test_the_timeline_and_header_speak_in_words_not_codes(client, claimed):
    user, referral = claimed
    client = login(client, user)
    client.post(
        action_url(referral, "close"), {"outcome_reason": "unreachable:contact_details_invalid"}
    )
    page = client.get(detail_url(referral)).content.decode()
    assert "Closed as Unreachable" in page
    assert "Contact details do not work" in page
    assert "contact_details_invalid" not in page and "Closed as unreachable" not in page


@time_machine.travel("2026-12-07 14:00:00+00:00", tick=False)
def test_times_are_shown_in_the_readers_zone_with_the_leads_beside_them(client):
    user = coordinator()
    user.timezone = "Europe/Paris"
    user.save(update_fields=["timezone"])
    referral = submit(
        "trial-prescreening",
        trial_submission(
            lead={"email": "la@example.org", "phone": phone(7), "timezone": "America/Los_Angeles"}
        ),
    )
    page = login(client, user).get(detail_url(referral)).content.decode()
    header = page.split('class="ref-head"')[1].split("</header>")[0]
    due = Referral.objects.get(pk=referral.pk).first_response_due_at
    paris = due.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    la = due.astimezone(__import__("zoneinfo").ZoneInfo("America/Los_Angeles"))
    assert f"{paris:%H:%M} CET" in header and "your time" in header
    assert f"{la:%H:%M} PST for the lead" in header
    assert "UTC" not in header


def test_without_a_preference_times_follow_the_staff_default_zone(client):
    user = coordinator()
    referral = submit("trial-prescreening", trial(1))
    page = login(client, user).get(detail_url(referral)).content.decode()
    header = page.split('class="ref-head"')[1].split("</header>")[0]
    assert re.search(r"\d\d:\d\d E[SD]T</time> your time", header)


def test_viewing_the_page_audits_nothing_but_the_lead_display(client, claimed):
    user, referral = claimed
    before = AuditEvent.objects.count()
    login(client, user).get(detail_url(referral))
    actions = set(
        AuditEvent.objects.order_by("-seq")[: AuditEvent.objects.count() - before].values_list(
            "action", flat=True
        )
    )
    assert actions <= {"referral.patient_data_viewed"}


def test_with_nothing_to_do_the_page_says_why(client, claimed):
    from refdesk.testing import auditor

    user, referral = claimed
    page = login(client, auditor()).get(detail_url(referral)).content.decode()
    assert "Your role reads this referral; it does not act on it." in page
    assert "/actions/" not in page
    login(client, user).post(action_url(referral, "qualify"))
    page = client.get(detail_url(referral)).content.decode()
    assert "This referral is closed: there is nothing left to do." in page


def test_the_officer_follows_the_notice_from_the_referral_page_and_its_triage_reads_in_words(
    client,
):
    from refdesk.routing.models import QueueNotice
    from refdesk.testing import adverse_event_referral, agent, safety_officer
    from refdesk.workflow.safety import notice_triage

    agent()
    officer = safety_officer()
    referral = adverse_event_referral(1)
    notice = QueueNotice.objects.get(referral=referral, queue__slug="drug-safety")
    page = login(client, officer).get(detail_url(referral)).content.decode()
    assert f"/desk/safety/notices/{notice.public_id}" in page
    notice_triage(notice=notice, user=officer, decision="ae_serious", case_id="PV-2026-0042")
    page = client.get(detail_url(referral)).content.decode()
    activity = page.split('class="ref-activity"')[1]
    assert "Drug-safety triage: Adverse event, serious" in activity
    assert "Drug-safety notice acknowledged" in activity
    assert "lead details changed" not in activity.lower()


def test_the_officer_without_queues_is_pointed_to_the_notices(client):
    from refdesk.testing import adverse_event_referral, agent, safety_officer

    agent()
    adverse_event_referral(1)
    page = login(client, safety_officer()).get("/desk/").content.decode()
    assert "open the drug-safety notices" in page and "(1 open)" in page
    assert "an administrator adds you to a team" not in page
