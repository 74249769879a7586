"""The console's templates and materials: the list per program, one version with its wording,
approval history and other versions, approving and retiring it (refusals shown in the page,
never a 500), who may see any of it (everyone else: 404); the development outbox; and
notifications that name no referral."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from refdesk.accounts.choices import Role
from refdesk.audit.models import AuditEvent
from refdesk.outreach.choices import ApprovalState
from refdesk.outreach.models import ContentVersion, Message
from refdesk.outreach.services import content_approve, content_sync
from refdesk.programs.models import Program
from refdesk.testing import (
    SESSION_WRITE_QUERIES,
    agent,
    auditor,
    coordinator,
    login,
    owner,
    random_id,
    rep,
    reviewer,
    safety_officer,
    specialist,
    staff,
    submit,
    support,
)
from refdesk.workflow.models import Notification, NotificationKind
from refdesk.workflow.notifications import notify

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 14, 0, tzinfo=dt.UTC)
PROGRAM = "provider-education"  # owned by medical-affairs
KEY = "education-referral-received"
LIST_URL = reverse("desk:content")


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def version(key: str = KEY, state: str = ApprovalState.DRAFT, program: str = PROGRAM):
    return ContentVersion.objects.get(program__slug=program, key=key, state=state)


def detail_url(content) -> str:
    return reverse("desk:content_detail", kwargs={"public_id": content.public_id})


def approve_url(content) -> str:
    return reverse("desk:content_approve", kwargs={"public_id": content.public_id})


def retire_url(content) -> str:
    return reverse("desk:content_retire", kwargs={"public_id": content.public_id})


def text(response) -> str:
    return response.content.decode()


def error_summary(page: str) -> str:
    match = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert match, "no error summary on the page"
    return match.group(0)


# --- the list --------------------------------------------------------------------------------


def test_the_list_shows_every_programs_templates_and_materials_to_a_reviewer(client, frozen):
    page = text(login(client, reviewer()).get(LIST_URL))
    for program in Program.objects.all():
        assert f'<h2 id="program-{program.slug}">{program.name}</h2>' in page
    assert KEY in page and "Referral received (to the referrer)" in page
    assert "nsclc-treatment-overview" in page  # a material
    assert "Education material" in page and "Message template" in page
    assert "system:test" in page  # the author: who applied the file
    assert "waiting for approval" in page


def test_the_list_says_when_an_approval_ends_in_days_and_when_it_has_ended(client, time_machine):
    approver = reviewer()
    time_machine.move_to(NOW, tick=False)
    approved = content_approve(content=version(), approver=approver, now=NOW)
    time_machine.move_to(approved.expires_at - dt.timedelta(days=12, hours=1), tick=False)
    page = text(login(client, approver).get(LIST_URL))
    assert "expires in 12 days" in page and "in force" in page
    assert "rui.reviewer" in page
    time_machine.move_to(approved.expires_at + dt.timedelta(hours=1), tick=False)
    page = text(login(client, approver).get(LIST_URL))  # signed in again: sessions time out
    assert "expired" in page
    row = re.search(rf"<tr[^>]*>\s*<th scope=\"row\"><a [^>]*>{KEY}</a>.*?</tr>", page, re.S)
    assert row and "in force" not in row.group(0)


def test_retired_versions_are_listed_only_when_asked_for(client, frozen):
    user = reviewer()
    retired = version("guideline-digest")
    retired.state = ApprovalState.RETIRED
    retired.save(update_fields=["state"])
    login(client, user)
    assert "guideline-digest" not in text(client.get(LIST_URL))
    assert "guideline-digest" in text(client.get(LIST_URL + "?show=all"))


def test_team_staff_read_only_their_own_teams_programs(client, frozen):
    page = text(login(client, coordinator()).get(LIST_URL))  # clinical-ops: trial-prescreening
    assert 'id="program-trial-prescreening"' in page
    assert 'id="program-provider-education"' not in page
    assert client.get(detail_url(version())).status_code == 404


@pytest.mark.parametrize("persona", [rep, safety_officer])
def test_roles_without_access_get_404_for_the_list_and_a_version(client, persona):
    login(client, persona())
    assert client.get(LIST_URL).status_code == 404
    assert client.get(detail_url(version())).status_code == 404
    assert client.post(approve_url(version())).status_code == 404
    assert version().state == ApprovalState.DRAFT


def test_an_unknown_version_is_the_same_404(client):
    login(client, reviewer())
    response = client.get(reverse("desk:content_detail", kwargs={"public_id": random_id()}))
    assert response.status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client):
    assert client.get(LIST_URL).status_code == 302


def test_the_list_runs_a_fixed_number_of_queries(client, frozen, django_assert_max_num_queries):
    user = reviewer()
    login(client, user)
    client.get(LIST_URL)
    with django_assert_max_num_queries(5 + SESSION_WRITE_QUERIES) as few:
        assert client.get(LIST_URL).status_code == 200
    program = Program.objects.get(slug=PROGRAM)
    for n in range(20):
        content_sync(
            program=program,
            definition={"templates": {f"extra-{n}": {"name": f"Extra {n}", "version": 1}}},
            actor="system:test",
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = text(client.get(LIST_URL))
    assert "extra-19" in page


# --- one version -------------------------------------------------------------------------------


def test_a_version_shows_its_wording_history_and_other_versions(client, frozen):
    approver = reviewer()
    old = content_approve(content=version(), approver=approver, note="MARC meeting 3", now=NOW)
    newer = ContentVersion.objects.create(
        program=old.program,
        kind=old.kind,
        key=KEY,
        version=2,
        content_hash="c" * 64,
        definition={**old.definition, "version": 2},
        author="user:olga.owner",
    )
    page = text(login(client, approver).get(detail_url(old)))
    assert "<h1>Referral received (to the referrer)" in page
    assert "Your referral {referral.reference} was received" in page  # email subject
    assert "Thank you for referring Dr {lead.family_name}" in page  # email body
    assert "MARC-2026-021" in page
    history = page[page.index('id="history-title"') : page.index('id="versions-title"')]
    assert "Recorded as a draft from the program file" in history and "system:test" in history
    assert "Approved" in history and "rui.reviewer" in history and "MARC meeting 3" in history
    assert detail_url(newer) in page and "Version 2" in page
    assert "in force" in page


def test_a_material_shows_its_title_kind_and_address(client, frozen):
    page = text(login(client, reviewer()).get(detail_url(version("nsclc-treatment-overview"))))
    assert "Treatment of advanced non-small-cell lung cancer" in page
    assert (
        'href="https://materials.example.com/med-affairs/nsclc-treatment-overview-v3.pdf"' in page
    )
    assert "treatment_education" in page and "oncology" in page


def test_the_approve_and_retire_forms_are_shown_only_to_those_who_may(client, frozen):
    content = version()
    page = text(login(client, reviewer()).get(detail_url(content)))
    assert approve_url(content) in page and retire_url(content) in page
    for persona in (auditor, specialist):
        page = text(login(client, persona()).get(detail_url(content)))
        assert approve_url(content) not in page and retire_url(content) not in page


# --- approving and retiring ----------------------------------------------------------------------


def test_a_reviewer_approves_a_draft_with_a_note(client, frozen):
    content = version()
    login(client, reviewer())
    response = client.post(approve_url(content), {"note": "MARC meeting 3"})
    assert response.status_code == 302 and response["Location"] == detail_url(content)
    content.refresh_from_db()
    assert (
        content.state == ApprovalState.APPROVED and content.approved_by.username == "rui.reviewer"
    )
    event = AuditEvent.objects.get(action="content.approved", subject_id=str(content.public_id))
    assert event.reason == "MARC meeting 3"
    page = text(client.get(response["Location"]))
    assert "approved; the approval ends on" in page
    assert approve_url(content) not in page  # no second approval offered


def test_approving_retires_the_version_approved_before(client, frozen):
    supervisor = owner()
    first = content_approve(content=version(), approver=supervisor, now=NOW)
    second = ContentVersion.objects.create(
        program=first.program,
        kind=first.kind,
        key=KEY,
        version=2,
        content_hash="d" * 64,
        definition={**first.definition, "version": 2},
        author="system:test",
    )
    login(client, reviewer())
    assert client.post(approve_url(second)).status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (ApprovalState.RETIRED, ApprovalState.APPROVED)


def test_the_author_is_refused_in_the_page_and_nothing_changes(client, frozen):
    author = reviewer()
    [content] = content_sync(
        program=Program.objects.get(slug=PROGRAM),
        definition={"templates": {"staff-note": {"name": "Staff note", "version": 1}}},
        actor=author,
    )
    login(client, author)
    page = text(client.get(detail_url(content)))
    assert approve_url(content) not in page
    assert "another medical reviewer or program owner must approve it" in page
    response = client.post(approve_url(content), {"note": "mine"})
    assert response.status_code == 400
    summary = error_summary(text(response))
    assert "The author of a version cannot approve it" in summary
    content.refresh_from_db()
    assert content.state == ApprovalState.DRAFT


def test_a_role_that_may_read_but_not_sign_off_is_refused_in_the_page(client, frozen):
    content = version()
    login(client, auditor())
    for url, data in ((approve_url(content), {}), (retire_url(content), {"reason": "old"})):
        response = client.post(url, data)
        assert response.status_code == 400
        assert "Only a medical reviewer or the program owner may" in error_summary(text(response))
    content.refresh_from_db()
    assert content.state == ApprovalState.DRAFT


def test_a_second_approval_is_refused_in_the_page(client, frozen):
    content = content_approve(content=version(), approver=owner(), now=NOW)
    login(client, reviewer())
    response = client.post(approve_url(content))
    assert response.status_code == 400
    assert "This version is approved, not a draft" in error_summary(text(response))


def test_retiring_without_a_reason_points_at_the_field_and_keeps_the_draft(client, frozen):
    content = version()
    login(client, reviewer())
    response = client.post(retire_url(content), {"reason": "   "})
    assert response.status_code == 400
    page = text(response)
    assert 'href="#retire-reason"' in error_summary(page)
    assert 'id="retire-reason-error"' in page and 'aria-invalid="true"' in page
    content.refresh_from_db()
    assert content.state == ApprovalState.DRAFT


def test_a_reviewer_retires_a_version_with_a_reason(client, frozen):
    content = content_approve(content=version(), approver=owner(), now=NOW)
    login(client, reviewer())
    response = client.post(retire_url(content), {"reason": "Withdrawn by MARC"})
    assert response.status_code == 302
    content.refresh_from_db()
    assert content.state == ApprovalState.RETIRED
    event = AuditEvent.objects.get(action="content.retired", subject_id=str(content.public_id))
    assert event.reason == "Withdrawn by MARC" and event.actor == "user:rui.reviewer"
    page = text(client.get(detail_url(content)))
    assert "retired; it is never sent" in page and retire_url(content) not in page


def test_a_note_too_long_is_refused_keeping_what_was_typed(client, frozen):
    content = version()
    login(client, reviewer())
    response = client.post(approve_url(content), {"note": "x" * 1001})
    assert response.status_code == 400
    assert 'href="#approve-note"' in error_summary(text(response))
    assert "x" * 1001 in text(response)
    content.refresh_from_db()
    assert content.state == ApprovalState.DRAFT


# --- navigation ----------------------------------------------------------------------------------


def test_the_navigation_links_content_for_those_who_read_every_programs(client, settings):
    settings.REFDESK_OUTBOX = False
    nav_link = f'href="{LIST_URL}"'
    assert nav_link in text(login(client, reviewer()).get(reverse("desk:queues")))
    assert nav_link not in text(login(client, rep()).get(reverse("desk:queues")))
    assert reverse("desk:outbox") not in text(login(client, owner()).get(reverse("desk:queues")))


# --- the development outbox ----------------------------------------------------------------------


@pytest.fixture
def message():
    referral = submit("patient-support", support(1))
    return Message.objects.create(
        referral=referral,
        template_key="support-callback-first",
        purpose="first_outreach",
        audience="lead",
        channel="sms",
        status="sent",
        idempotency_key=f"test-{referral.public_id}",
        recipient="+12125550101",
        subject="",
        body="Hello Alex, this is patient services.",
        requested_by="system:test",
    )


def test_the_outbox_shows_an_agent_the_rendered_messages_of_their_referrals(
    client, settings, message
):
    settings.REFDESK_OUTBOX = True
    user = agent()
    page = text(login(client, user).get(reverse("desk:outbox")))
    assert message.referral.reference in page
    assert "Hello Alex, this is patient services." in page and "+12125550101" in page
    assert "support-callback-first" in page and "Sent" in page
    assert AuditEvent.objects.filter(
        action="referral.patient_data_viewed",
        subject_id=str(message.referral.public_id),
        actor="user:paula.agent",
    ).exists()
    assert reverse("desk:outbox") in page  # the navigation link


def test_the_outbox_masks_the_text_for_a_supervisor(client, settings, message):
    settings.REFDESK_OUTBOX = True
    page = text(login(client, owner()).get(reverse("desk:outbox")))
    assert message.referral.reference in page
    assert "Hello Alex" not in page and "+12125550101" not in page


def test_the_outbox_is_not_found_when_turned_off_or_for_other_roles(client, settings, message):
    settings.REFDESK_OUTBOX = False
    assert login(client, agent()).get(reverse("desk:outbox")).status_code == 404
    settings.REFDESK_OUTBOX = True
    for persona in (auditor, safety_officer):
        assert login(client, persona()).get(reverse("desk:outbox")).status_code == 404


def test_the_outbox_lists_only_messages_of_referrals_the_user_may_see(client, settings, message):
    settings.REFDESK_OUTBOX = True
    page = text(login(client, coordinator()).get(reverse("desk:outbox")))  # clinical-ops
    assert message.referral.reference not in page


# --- notifications that name no referral ---------------------------------------------------------


def test_a_notification_without_a_referral_shows_its_subject(client, frozen):
    user = staff("pia.owner", Role.PROGRAM_OWNER, "medical-affairs")
    notify(
        users=[user],
        kind=NotificationKind.CONTENT_EXPIRING,
        actor="system:content",
        at=NOW,
        subject="Referral received (to the referrer) v1 approval ends 2027-03-02",
    )
    page = text(login(client, user).get(reverse("desk:notifications")))
    assert "Approval ending:" in page
    assert "Referral received (to the referrer) v1 approval ends 2027-03-02" in page
    assert f'href="{LIST_URL}"' in page
    Notification.objects.update(read_at=NOW)
    page = text(client.get(reverse("desk:notifications")))
    assert "Earlier (1)" in page and "v1 approval ends 2027-03-02" in page


def test_a_notification_of_a_new_kind_about_a_referral_links_to_it(client, frozen):
    user = agent()
    referral = submit("patient-support", support(2))
    notify(users=[user], kind=NotificationKind.ATTEMPT_DUE, actor="system:test", at=NOW,
           referral=referral)  # fmt: skip
    page = text(login(client, user).get(reverse("desk:notifications")))
    link = reverse("desk:referral_detail", kwargs={"public_id": referral.public_id})
    assert f'href="{link}">{referral.reference}</a>' in page
    assert "Contact attempt due" in page
