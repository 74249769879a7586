"""Appointments on the referral page: booking the next free time on the phone, moving,
cancelling, recording attendance, the appointments and manual checks sections, the timeline's
words, and the queue's checks waiting — each through the console, as the roles that may."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from refdesk.audit.models import AuditEvent
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.scheduling.choices import AppointmentStatus, BookedVia
from refdesk.scheduling.models import Appointment
from refdesk.testing import (
    action_url,
    agent,
    approve_all_content,
    auditor,
    cleared_meeting_request,
    coordinator,
    detail_url,
    login,
    owner,
    rep,
    specialist,
    submit,
    support_by_email,
)
from refdesk.workflow.booking import appointment_book
from refdesk.workflow.models import ManualCheck
from refdesk.workflow.sending import messages_deliver_due

pytestmark = pytest.mark.django_db

# Monday 7 December 2026, 14:00 UTC = 09:00 in New York (the patient-services team's zone and
# the staff's default), 07:00 in Denver (the lead's).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
# Tuesday 8 December, 10:00 in New York.
TUESDAY_10 = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
FIRST_FREE = "2026-12-07T14:15:00+00:00"  # staff need no notice: the next 15-minute mark


@pytest.fixture
def paula():
    return agent()


@pytest.fixture
def referral(paula):
    approve_all_content()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        return submit("patient-support", support_by_email(1))


def at(moment, client, user):
    """Travel to ``moment`` and sign ``user`` in afresh (sessions end after 15 idle minutes)."""
    traveller = time_machine.travel(moment, tick=False)
    traveller.start()
    login(client, user)
    return traveller


@pytest.fixture
def monday(client, paula):
    traveller = at(MONDAY, client, paula)
    yield client
    traveller.stop()


def fresh(referral) -> Referral:
    return Referral.objects.get(pk=referral.pk)


def form(page: str, action: str) -> str:
    """The action's form in the page ("" when the page does not offer it)."""
    found = re.search(rf'<form[^>]*class="action action-{action}".*?</form>', page, re.S)
    return found.group(0) if found else ""


def slot_values(page: str, action: str = "schedule") -> list[str]:
    return re.findall(r'name="starts_at" value="([^"]+)"', form(page, action))


def events(referral, action: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(subject_id=str(referral.public_id), action=action).order_by("seq")
    )


def book_as(referral, user, starts_at=TUESDAY_10) -> Appointment:
    with time_machine.travel(MONDAY, tick=False):
        return appointment_book(
            referral=referral, type_key="support-call", starts_at=starts_at, actor=user
        )


def check_url(referral, check) -> str:
    return reverse(
        "desk:referral_check_done",
        kwargs={"public_id": referral.public_id, "check_id": check.public_id},
    )


# --- booking ------------------------------------------------------------------------------------


def test_an_agent_books_the_next_free_slot_from_the_referral_page(monday, referral, paula):
    page = monday.get(detail_url(referral)).content.decode()
    slots = slot_values(page)
    assert slots[0] == FIRST_FREE
    assert "(next free slot)" in form(page, "schedule")
    response = monday.post(
        action_url(referral, "schedule"),
        {"type": "support-call", "starts_at": slots[0], "member": ""},
    )
    assert response.status_code == 302 and response["Location"] == detail_url(referral)
    assert fresh(referral).stage == Stage.SCHEDULED
    appointment = Appointment.objects.get(referral=referral)
    assert appointment.starts_at.isoformat() == FIRST_FREE
    assert appointment.member == paula and appointment.booked_via == BookedVia.STAFF
    page = monday.get(detail_url(referral)).content.decode()
    assert "The appointment on" in page and "is booked" in page
    assert not form(page, "schedule") and form(page, "reschedule")


def test_the_booking_form_lists_twelve_times_in_the_readers_and_the_leads_zone(monday, referral):
    page = monday.get(detail_url(referral)).content.decode()
    booking = form(page, "schedule")
    assert len(slot_values(page)) == 12
    assert 'option value="support-call" selected' in booking  # the one type, chosen
    assert "Mon 7 Dec, 09:15 EST" in booking  # the reader's zone (the staff default)
    assert "Mon 07:15 MST for the lead" in booking  # the lead's, beside it
    assert "free: paula.agent" in booking
    assert 'id="f-schedule-member"' in booking and "Whoever is free at that time" in booking


def test_a_taken_slot_shows_the_page_again_with_the_error_and_fresh_times(monday, referral, paula):
    with time_machine.travel(MONDAY - timedelta(minutes=30), tick=False):
        other = submit("patient-support", support_by_email(2))
    page = monday.get(detail_url(referral)).content.decode()
    chosen = slot_values(page)[0]
    book_as(other, paula, datetime.fromisoformat(chosen))  # a colleague was quicker
    response = monday.post(
        action_url(referral, "schedule"), {"type": "support-call", "starts_at": chosen}
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "There is a problem: the action was not done" in page
    assert "That time was just taken. Please choose another time." in page
    fresh_slots = slot_values(page)
    assert chosen not in fresh_slots and len(fresh_slots) == 12
    assert '<details class="action-menu" id="act-schedule" open>' in page
    assert not Appointment.objects.filter(referral=referral).exists()


def test_a_time_outside_the_teams_hours_is_refused_with_fresh_times(monday, referral):
    response = monday.post(
        action_url(referral, "schedule"),
        {"type": "support-call", "starts_at": "2026-12-08T03:00:00+00:00"},  # 22:00 there
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "outside the team&#x27;s available hours" in page and slot_values(page)[0] == FIRST_FREE


@pytest.mark.parametrize(
    "posted,message",
    [
        ({"member": "not-a-member"}, "Choose a member of the team from the list"),
        ({"member": "00000000-0000-4000-8000-000000000000"}, "Choose a member of the team"),
        ({"starts_at": "tomorrow at ten"}, "Choose a time from the list."),
        ({"starts_at": "2026-12-07T14:15:00"}, "Choose a time from the list."),
    ],
)
def test_bad_input_is_a_clear_error_beside_its_field(monday, referral, posted, message):
    data = {"type": "support-call", "starts_at": FIRST_FREE, **posted}
    response = monday.post(action_url(referral, "schedule"), data)
    assert response.status_code == 422
    page = response.content.decode()
    field = next(iter(posted))
    assert message in page and f'href="#f-schedule-{field}"' in page
    assert not Appointment.objects.filter(referral=referral).exists()


def test_a_member_of_another_team_cannot_be_named(monday, referral):
    outsider = coordinator()
    response = monday.post(
        action_url(referral, "schedule"),
        {"type": "support-call", "starts_at": FIRST_FREE, "member": str(outsider.public_id)},
    )
    assert response.status_code == 422
    assert "Choose a member of the team from the list" in response.content.decode()


def test_a_chosen_member_gets_the_appointment(monday, referral, paula):
    colleague = agent("pete.agent")
    page = monday.get(detail_url(referral)).content.decode()
    assert "free: paula.agent, pete.agent" in form(page, "schedule")
    monday.post(
        action_url(referral, "schedule"),
        {"type": "support-call", "starts_at": FIRST_FREE, "member": str(colleague.public_id)},
    )
    assert Appointment.objects.get(referral=referral).member == colleague


def test_the_booking_form_of_several_types_lists_one_types_times_and_links_the_others(client):
    approve_all_content()
    mira = specialist()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        referral = cleared_meeting_request(1)
    traveller = at(MONDAY, client, mira)
    try:
        booking = form(client.get(detail_url(referral)).content.decode(), "schedule")
        assert "The times listed are for Meeting with a medical science liaison" in booking
        assert "?type=medical-info-call#act-schedule" in booking
        page = client.get(detail_url(referral), {"type": "medical-info-call"}).content.decode()
    finally:
        traveller.stop()
    assert '<details class="action-menu" id="act-schedule" open>' in page
    booking = form(page, "schedule")
    assert "The times listed are for Medical information call" in booking
    assert 'option value="medical-info-call" selected' in booking and slot_values(page)


# --- moving, cancelling, attendance --------------------------------------------------------------


def test_staff_move_the_appointment_with_a_reason_even_within_the_leads_cutoff(
    client, referral, paula
):
    appointment = book_as(referral, paula)
    late = TUESDAY_10 - timedelta(minutes=30)  # the lead may no longer change it online
    traveller = at(late, client, paula)
    try:
        page = client.get(detail_url(referral)).content.decode()
        moving = form(page, "reschedule")
        assert "The times below are paula.agent's" in moving
        assert 'value="lead_request"' in moving
        slots = slot_values(page, "reschedule")
        assert TUESDAY_10.isoformat() not in slots  # its own time is not offered
        refused = client.post(action_url(referral, "reschedule"), {"starts_at": slots[2]})
        assert refused.status_code == 422 and "Choose why it is moved." in refused.content.decode()
        response = client.post(
            action_url(referral, "reschedule"), {"starts_at": slots[2], "reason": "lead_request"}
        )
    finally:
        traveller.stop()
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.starts_at.isoformat() == slots[2] and appointment.reschedules == 1
    (event,) = events(referral, "appointment.rescheduled")
    assert event.actor == "user:paula.agent" and event.reason == "lead_request"


def test_staff_cancel_with_a_reason_and_the_referral_goes_back_to_in_progress(
    monday, referral, paula
):
    appointment = book_as(referral, paula)
    cancelling = form(monday.get(detail_url(referral)).content.decode(), "cancel_appointment")
    assert 'value="staff_unavailable"' in cancelling
    assert 'value="referral_closed"' not in cancelling  # closing the referral does that
    refused = monday.post(action_url(referral, "cancel_appointment"), {"reason": "referral_closed"})
    assert refused.status_code == 422
    response = monday.post(
        action_url(referral, "cancel_appointment"), {"reason": "staff_unavailable"}
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.reason == "staff_unavailable"
    assert fresh(referral).stage == Stage.IN_PROGRESS


def test_attendance_is_offered_only_once_the_appointment_started(client, referral, paula):
    book_as(referral, paula)
    traveller = at(TUESDAY_10 - timedelta(minutes=5), client, paula)
    try:
        assert not form(client.get(detail_url(referral)).content.decode(), "record_attendance")
    finally:
        traveller.stop()
    traveller = at(TUESDAY_10 + timedelta(minutes=5), client, paula)
    try:
        page = client.get(detail_url(referral)).content.decode()
    finally:
        traveller.stop()
    attendance = form(page, "record_attendance")
    assert 'id="act-record_attendance"' in page.split("Other actions")[0]  # the next step
    assert 'value="attended"' in attendance and 'value="no_show"' in attendance
    assert "A no-show sends the lead the program's offer to book again" in attendance
    assert "may open a manual check" in attendance


@pytest.fixture
def no_show(client, referral, paula):
    """The lead missed the booked call; paula recorded it through the page."""
    book_as(referral, paula)
    traveller = at(TUESDAY_10 + timedelta(minutes=20), client, paula)
    response = client.post(action_url(referral, "record_attendance"), {"outcome": "no_show"})
    assert response.status_code == 302
    yield client
    traveller.stop()


def test_a_no_show_shows_the_manual_check_and_mark_done_resolves_it(no_show, referral):
    client = no_show
    check = ManualCheck.objects.get(referral=referral)
    page = client.get(detail_url(referral)).content.decode()
    assert "Checks waiting" in page and "<strong>Missed appointment</strong>, opened" in page
    assert f'action="{check_url(referral, check)}"' in page and "Mark done" in page
    response = client.post(check_url(referral, check))
    assert response.status_code == 302 and response["Location"] == detail_url(referral)
    check.refresh_from_db()
    assert check.resolved_at is not None and check.resolved_by == "user:paula.agent"
    (event,) = events(referral, "followup.manual_check_done")
    assert event.actor == "user:paula.agent"
    page = client.get(detail_url(referral)).content.decode()
    assert "Check done on" in page and "Mark done" not in page
    again = client.post(check_url(referral, check), HTTP_HX_REQUEST="true")
    assert again.status_code == 409 and "This check was already done." in again.content.decode()


def test_mark_done_through_htmx_returns_the_page_body(no_show, referral):
    check = ManualCheck.objects.get(referral=referral)
    response = no_show.post(check_url(referral, check), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<div id="referral"')
    assert "Mark done" not in page


def test_an_unknown_check_or_another_referrals_is_not_found(no_show, referral, paula):
    check = ManualCheck.objects.get(referral=referral)
    with time_machine.travel(MONDAY, tick=False):
        other = submit("patient-support", support_by_email(3))
    unknown = check_url(referral, check).replace(str(check.public_id), str(other.public_id))
    assert no_show.post(unknown).status_code == 404
    assert no_show.post(check_url(other, check)).status_code == 404  # not that referral's
    assert no_show.get(check_url(referral, check)).status_code == 405
    check.refresh_from_db()
    assert check.resolved_at is None


@pytest.mark.parametrize("persona", [auditor, owner])
def test_a_role_that_only_reads_sees_the_appointment_but_acts_on_nothing(
    client, referral, paula, persona
):
    book_as(referral, paula)
    with time_machine.travel(TUESDAY_10 + timedelta(minutes=20), tick=False):
        login(client, paula).post(action_url(referral, "record_attendance"), {"outcome": "no_show"})
    check = ManualCheck.objects.get(referral=referral)
    reader = persona()
    traveller = at(TUESDAY_10 + timedelta(minutes=30), client, reader)
    try:
        page = client.get(detail_url(referral)).content.decode()
        assert "Patient support call" in page and "No-show" in page
        assert "Checks waiting" in page and "Mark done" not in page
        for action in ("schedule", "reschedule", "cancel_appointment", "record_attendance"):
            assert client.post(action_url(referral, action)).status_code == 404
        assert client.post(check_url(referral, check)).status_code == 404
    finally:
        traveller.stop()
    check.refresh_from_db()
    assert check.resolved_at is None


def test_a_commercial_rep_cannot_see_the_referral_nor_its_check(no_show, referral):
    check = ManualCheck.objects.get(referral=referral)
    login(no_show, rep())
    assert no_show.get(detail_url(referral)).status_code == 404
    assert no_show.post(check_url(referral, check)).status_code == 404
    assert no_show.post(action_url(referral, "schedule")).status_code == 404


# --- the record: appointments, timeline, queue ---------------------------------------------------


def test_the_appointments_section_lists_every_appointment_newest_first(monday, referral, paula):
    monday.post(action_url(referral, "schedule"), {"type": "support-call", "starts_at": FIRST_FREE})
    later = "2026-12-07T17:00:00+00:00"  # 12:00 in New York
    monday.post(action_url(referral, "reschedule"), {"starts_at": later, "reason": "other"})
    monday.post(action_url(referral, "cancel_appointment"), {"reason": "staff_unavailable"})
    monday.post(
        action_url(referral, "schedule"),
        {"type": "support-call", "starts_at": TUESDAY_10.isoformat()},
    )
    page = monday.get(detail_url(referral)).content.decode()
    section = page[page.index('id="appointments-heading"') : page.index('id="messages-heading"')]
    rows = re.findall(r"<tr>.*?</tr>", section, re.S)[1:]
    assert len(rows) == 2
    assert "Tue 8 Dec 2026, 10:00 EST" in rows[0] and "Tue 08:00 MST for the lead" in rows[0]
    assert "Booked" in rows[0] and "Staff" in rows[0] and "paula.agent" in rows[0]
    assert "Mon 7 Dec 2026, 12:00 EST" in rows[1] and "Cancelled" in rows[1]
    assert "1 time" in rows[1] and "The staff member is not available" in rows[1]


def test_the_timeline_tells_what_happened_to_the_appointment(no_show, referral):
    client = no_show
    check = ManualCheck.objects.get(referral=referral)
    client.post(check_url(referral, check))
    page = client.get(detail_url(referral)).content.decode()
    timeline = page[page.index('id="timeline"') :]
    assert "Appointment booked: Patient support call on Tue 8 Dec, 10:00 EST with paula.agent" in (
        timeline
    )
    assert "Attendance recorded: no-show (Patient support call on Tue 8 Dec, 10:00 EST)" in timeline
    assert "Missed appointment: a person follows it up (manual check opened)" in timeline
    assert "Manual check done (missed appointment)" in timeline
    assert "Appointment confirmation to the lead scheduled: Support call confirmation" in timeline
    assert "Appointment reminder to the lead scheduled for Mon 7 Dec, 10:00 EST" in timeline
    assert "Rebooking offer to the lead scheduled: Missed call - reschedule offer" in timeline
    assert "lead details changed" not in timeline


def test_the_timeline_words_a_move_and_a_cancellation_with_their_reasons(monday, referral, paula):
    book_as(referral, paula)
    later = (TUESDAY_10 + timedelta(hours=3)).isoformat()
    monday.post(action_url(referral, "reschedule"), {"starts_at": later, "reason": "lead_request"})
    monday.post(action_url(referral, "cancel_appointment"), {"reason": "no_longer_needed"})
    page = monday.get(detail_url(referral)).content.decode()
    timeline = page[page.index('id="timeline"') :]
    assert (
        "Appointment moved from Tue 8 Dec, 10:00 EST to Tue 8 Dec, 13:00 EST "
        '<span class="timeline-detail">(The lead asked for another time)</span>'
    ) in timeline
    assert (
        "Appointment cancelled (Patient support call on Tue 8 Dec, 13:00 EST) "
        '<span class="timeline-detail">(No longer needed)</span>'
    ) in timeline
    assert "Appointment change to the lead scheduled: Support call moved" in timeline
    assert "Appointment cancellation to the lead scheduled: Support call cancelled" in timeline


def test_the_timeline_names_a_sent_appointment_message_by_its_purpose(client, referral, paula):
    book_as(referral, paula)
    # 09:00 for the lead: the confirmation and the first reminder (due at 10:00 EST) go.
    with time_machine.travel(MONDAY + timedelta(hours=2), tick=False):
        messages_deliver_due()
    traveller = at(MONDAY + timedelta(hours=2), client, paula)
    try:
        page = client.get(detail_url(referral)).content.decode()
    finally:
        traveller.stop()
    timeline = page[page.index('id="timeline"') :]
    assert "Appointment confirmation sent to the lead: Support call confirmation (v" in timeline
    assert "Appointment reminder sent to the lead: Support call reminder (v" in timeline


def test_the_queue_page_lists_the_open_check_for_the_team(no_show, referral):
    client = no_show
    check = ManualCheck.objects.get(referral=referral)
    queue_url = reverse("desk:queue", kwargs={"slug": referral.queue.slug})
    page = client.get(queue_url).content.decode()
    assert "Checks waiting (1)" in page
    assert f'href="{detail_url(referral)}#checks-heading">{referral.reference}</a>' in page
    assert "Missed appointment, opened" in page and "Tue 8 Dec, 10:20 EST" in page
    client.post(check_url(referral, check))
    assert "Checks waiting" not in client.get(queue_url).content.decode()


def test_the_queue_page_lists_no_checks_for_roles_that_do_not_work_it(no_show, referral):
    login(no_show, owner())
    queue_url = reverse("desk:queue", kwargs={"slug": referral.queue.slug})
    response = no_show.get(queue_url)
    assert response.status_code == 200 and "Checks waiting" not in response.content.decode()
