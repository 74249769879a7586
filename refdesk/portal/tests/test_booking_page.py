"""The lead's booking page, /book/<token>: free times in the lead's zone, booking, the loser of
a race, moving and cancelling through the link, and what it refuses."""

import html
import re
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from refdesk.intake.choices import Outcome, Stage
from refdesk.outreach.booking_links import booking_token
from refdesk.outreach.models import Message
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment
from refdesk.testing import (
    agent,
    approve_all_content,
    cleared_meeting_request,
    specialist,
    submit,
    support_by_email,
)
from refdesk.workflow.booking import LEAD, appointment_book, appointment_reschedule
from refdesk.workflow.closing import referral_close
from refdesk.workflow.contact import referral_request_info

pytestmark = pytest.mark.django_db

# Monday 7 December 2026, 14:00 UTC: 09:00 in New York (the team), 07:00 in Denver (the lead).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
# Tuesday 8 December, 10:00 in New York, 08:00 in Denver.
TUESDAY_10 = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
TUESDAY_10_DENVER = "2026-12-08T08:00:00-07:00"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()  # the clock is frozen: every test would share one rate-limit window


@pytest.fixture
def paula():
    return agent()  # the only member of patient services: every booking is with her


@pytest.fixture
def referral(paula):
    approve_all_content()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        return submit("patient-support", support_by_email(1))


@pytest.fixture
def url(referral):
    with time_machine.travel(MONDAY, tick=False):
        return f"/book/{booking_token(referral)}"


@pytest.fixture
def monday():
    with time_machine.travel(MONDAY, tick=False):
        yield


def service_book(referral, starts_at=TUESDAY_10):
    with time_machine.travel(MONDAY, tick=False):
        return appointment_book(
            referral=referral, type_key="support-call", starts_at=starts_at, actor=LEAD
        )


def book_post(client, url, start=TUESDAY_10_DENVER, **fields):
    data = {"action": "book", "type": "support-call", "tz": "America/Denver", "start": start}
    return client.post(url, {**data, **fields})


def text(response) -> str:
    return html.unescape(response.content.decode())


def nothing_booked(referral) -> bool:
    referral.refresh_from_db()
    return (
        not Appointment.objects.filter(referral=referral).exists()
        and not Message.objects.filter(referral=referral, appointment__isnull=False).exists()
        and referral.stage != Stage.SCHEDULED
    )


# --- the free times -----------------------------------------------------------------------


def test_it_shows_free_times_in_the_leads_zone_with_the_team_time_beside(
    client, url, referral, monday
):
    response = client.get(url)
    assert response.status_code == 200
    page = text(response)
    # two hours' notice: 11:00 in New York is the first time, 09:00 for the lead in Denver
    assert "<legend>Monday 7 December 2026</legend>" in page
    assert "09:00 MST (America/Denver)" in page
    assert "11:00 EST team time, New York" in page
    assert 'value="2026-12-07T09:00:00-07:00"' in page
    assert "Times are shown in America/Denver" in page
    assert response["Cache-Control"] == "private, no-store"
    # The link never goes on to another site, yet the page's form posts with its real Origin:
    # under no-referrer browsers send "Origin: null" and the CSRF check refuses the booking.
    assert response["Referrer-Policy"] == "same-origin"
    assert "Alex" not in page and "Moreno" not in page and referral.reference not in page


def test_it_shows_five_days_at_a_time_and_links_to_later_dates(client, url, monday):
    page = text(client.get(url))
    assert len(re.findall(r"<legend>\w+day \d+ December 2026</legend>", page)) == 5
    assert "Friday 11 December 2026" in page and "Monday 14 December 2026" not in page
    later = re.search(r'href="([^"]*from=2026-12-14[^"]*)">Later dates', page).group(1)
    page = text(client.get(later))
    assert "<legend>Monday 14 December 2026</legend>" in page
    assert "Monday 7 December 2026" not in page
    assert "Earliest dates" in page


def test_a_date_that_is_not_one_is_a_clear_400(client, url, monday):
    response = client.get(f"{url}?from=next-week")
    assert response.status_code == 400
    assert "The date in the page address is not a date" in text(response)


def test_tz_shows_the_times_in_another_zone(client, url, monday):
    page = text(client.get(f"{url}?tz=Europe/London"))
    assert "16:00 GMT (Europe/London)" in page
    assert "11:00 EST team time, New York" in page
    assert '<option value="Europe/London" selected>' in page


def test_the_team_time_names_its_day_when_it_is_another_day_for_the_lead(client, url, monday):
    page = text(client.get(f"{url}?tz=Asia/Tokyo"))
    # 11:00 Monday in New York is 01:00 Tuesday in Tokyo
    assert "01:00 JST (Asia/Tokyo)" in page
    assert "11:00 EST team time, New York (Mon 7 Dec)" in page


def test_an_unknown_zone_is_refused_with_a_400_and_nothing_written(client, url, referral, monday):
    response = client.get(f"{url}?tz=Mars/Olympus_Mons")
    assert response.status_code == 400
    assert "The time zone in the page address is not one we know" in text(response)
    response = book_post(client, url, tz="Mars/Olympus_Mons")
    assert response.status_code == 400
    assert nothing_booked(referral)


def test_several_appointment_types_are_chosen_first():
    specialist()
    approve_all_content()
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        clinician = cleared_meeting_request(4)
    client = Client()
    with time_machine.travel(MONDAY, tick=False):
        url = f"/book/{booking_token(clinician)}"
        page = text(client.get(url))
        assert "What would you like to book?" in page
        assert 'value="msl-meeting"' in page and 'value="medical-info-call"' in page
        assert 'name="start"' not in page
        page = text(client.get(f"{url}?type=medical-info-call"))
        assert "Book a time: medical information call" in page
        assert "CST (America/Chicago)" in page
        assert client.get(f"{url}?type=unknown").status_code == 400


# --- booking ---------------------------------------------------------------------------------


def test_booking_schedules_the_referral_and_shows_the_confirmation(
    client, url, referral, paula, monday
):
    response = book_post(client, url)
    assert response.status_code == 302
    assert response["Location"] == f"{url}?tz=America%2FDenver&type=support-call&done=booked"
    referral.refresh_from_db()
    assert referral.stage == Stage.SCHEDULED
    appointment = Appointment.objects.get(referral=referral)
    assert appointment.starts_at == TUESDAY_10 and appointment.member == paula
    assert appointment.lead_timezone == "America/Denver"
    assert appointment.booked_by == LEAD
    assert Message.objects.filter(appointment=appointment, purpose="confirmation").exists()
    page = text(client.get(response["Location"]))
    assert "Your appointment is booked" in page
    assert "Patient support call" in page
    assert "Tuesday 8 December 2026, 08:00 MST (America/Denver)" in page
    assert "10:00 EST team time, New York" in page
    assert "By phone" in page
    assert "your insurance card" in page
    assert "on its way to you by email, with a calendar invite" in page
    assert "Choose another time" in page and "Cancel the appointment" in page
    assert "Alex" not in page and referral.reference not in page


def test_the_zone_chosen_on_the_page_is_the_one_stored(client, url, referral, monday):
    response = book_post(client, url, start="2026-12-08T15:00:00+00:00", tz="Europe/London")
    assert response.status_code == 302
    appointment = Appointment.objects.get(referral=referral)
    assert appointment.lead_timezone == "Europe/London"
    assert appointment.starts_at == TUESDAY_10
    page = text(client.get(url))
    assert "Tuesday 8 December 2026, 15:00 GMT (Europe/London)" in page


def test_the_loser_of_a_race_gets_409_and_fresh_times(client, url, referral, monday):
    assert f'value="{TUESDAY_10_DENVER}"' in text(client.get(url))
    with time_machine.travel(MONDAY - timedelta(minutes=30), tick=False):
        other = submit("patient-support", support_by_email(2))
    service_book(other)  # the other lead takes the time between our GET and POST
    response = book_post(client, url)
    assert response.status_code == 409
    page = text(response)
    summary = page.index('class="error-summary"')
    assert page.index("That time was just taken. Please choose another time.") > summary
    assert summary < page.index("<h1>")
    assert f'value="{TUESDAY_10_DENVER}"' not in page  # fresh: taken times are gone
    assert 'value="2026-12-08T08:15:00-07:00"' not in page  # (the buffer after it too)
    assert 'value="2026-12-08T08:30:00-07:00"' in page
    assert Appointment.objects.count() == 1
    assert nothing_booked(referral)


@pytest.mark.parametrize(
    ("start", "says"),
    [
        ("2026-12-07T20:00:00-07:00", "outside the team's available hours"),  # 22:00 New York
        ("2026-12-07T05:00:00-07:00", "That time has passed"),
        ("2026-12-07T07:30:00-07:00", "less than 2 hours away"),
    ],
)
def test_a_time_that_cannot_be_booked_is_422_with_fresh_times(
    client, url, referral, monday, start, says
):
    response = book_post(client, url, start=start)
    assert response.status_code == 422
    page = text(response)
    assert says in page and 'class="error-summary"' in page
    assert "<legend>Monday 7 December 2026</legend>" in page
    assert nothing_booked(referral)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"start": "tomorrow at ten"}, "Choose a time from the list."),
        ({"start": "2026-12-08T08:00:00"}, "Choose a time from the list."),  # no offset
        ({"start": ""}, "Choose a time from the list."),
        ({"type": "massage"}, "Choose an appointment type."),
        ({"action": "teleport"}, "Choose what you would like to do."),
    ],
)
def test_a_malformed_post_is_a_clear_422(client, url, referral, monday, fields, says):
    response = book_post(client, url, **fields)
    assert response.status_code == 422
    assert says in text(response)
    assert nothing_booked(referral)


def test_a_second_booking_from_another_tab_is_refused_and_shows_the_first(
    client, url, referral, monday
):
    service_book(referral)
    response = book_post(client, url, start="2026-12-08T10:00:00-07:00")
    assert response.status_code == 409
    page = text(response)
    assert "You already have an appointment booked" in page
    assert "Tuesday 8 December 2026, 08:00 MST (America/Denver)" in page
    assert Appointment.objects.filter(referral=referral).count() == 1


def test_a_post_without_the_csrf_token_is_refused(url, referral, monday):
    response = book_post(Client(enforce_csrf_checks=True), url)
    assert response.status_code == 403
    assert nothing_booked(referral)


# --- moving and cancelling --------------------------------------------------------------------


def test_the_lead_moves_the_appointment_through_the_link(client, url, referral, monday):
    appointment = service_book(referral)
    page = text(client.get(f"{url}?change=1"))
    assert "Move my appointment to this time" in page
    assert f'value="{TUESDAY_10_DENVER}"' in page  # its own time counts as free
    response = client.post(
        url,
        {
            "action": "reschedule",
            "start": "2026-12-08T11:00:00-07:00",
            "tz": "America/Denver",
        },
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.starts_at == datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
    assert appointment.reschedules == 1 and appointment.reason == "lead_request"
    page = text(client.get(response["Location"]))
    assert "Your appointment has been moved" in page
    assert "Tuesday 8 December 2026, 11:00 MST (America/Denver)" in page
    assert Message.objects.filter(appointment=appointment, purpose="appointment_change").exists()


def test_the_lead_cancels_through_the_link_and_can_book_again(client, url, referral, monday):
    appointment = service_book(referral)
    response = client.post(url, {"action": "cancel", "reason": "no_longer_needed"})
    assert response.status_code == 302
    appointment.refresh_from_db()
    referral.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.reason == "no_longer_needed"
    assert referral.stage == Stage.IN_PROGRESS
    assert Message.objects.filter(appointment=appointment, purpose="cancellation").exists()
    page = text(client.get(response["Location"]))
    assert "Your appointment is cancelled" in page
    assert "Tuesday 8 December 2026, 08:00 MST (America/Denver)" in page
    assert "<legend>Monday 7 December 2026</legend>" in page  # book another time


@pytest.mark.parametrize("reason", ["", "booked_in_error"])  # none; a staff reason
def test_cancelling_needs_a_reason_the_lead_may_give(client, url, referral, monday, reason):
    appointment = service_book(referral)
    response = client.post(url, {"action": "cancel", "reason": reason})
    assert response.status_code == 422
    assert "Choose a reason from the list." in text(response)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_within_the_cutoff_the_page_says_to_call_the_team(client, url, referral):
    appointment = service_book(referral)
    with time_machine.travel(TUESDAY_10 - timedelta(minutes=30), tick=False):
        cancel = client.post(url, {"action": "cancel", "reason": "lead_request"})
        move = client.post(
            url,
            {"action": "reschedule", "start": "2026-12-08T13:00:00-07:00", "tz": "America/Denver"},
        )
    for response in (cancel, move):
        assert response.status_code == 400
        assert "can no longer be changed here. Please call the team" in text(response)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED and appointment.sequence == 0


def test_after_the_last_reschedule_allowed_the_page_says_to_call_the_team(
    client, url, referral, monday
):
    appointment = service_book(referral)
    for hours in (1, 2, 3):  # the program allows three
        appointment = appointment_reschedule(
            appointment=appointment,
            starts_at=TUESDAY_10 + timedelta(hours=hours),
            actor=LEAD,
            reason="lead_request",
        )
    response = client.post(
        url,
        {"action": "reschedule", "start": "2026-12-09T08:00:00-07:00", "tz": "America/Denver"},
    )
    assert response.status_code == 400
    assert "moved as often as it can be online. Please call the team" in text(response)
    appointment.refresh_from_db()
    assert appointment.reschedules == 3


def test_the_invite_downloads_with_the_leads_zone(client, url, referral, monday):
    assert client.get(f"{url}/invite.ics").status_code == 404  # nothing booked yet
    appointment = service_book(referral)
    response = client.get(f"{url}/invite.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Content-Disposition"] == 'attachment; filename="appointment.ics"'
    assert response["Cache-Control"] == "private, no-store"
    event = next(iter(icalendar.Calendar.from_ical(response.content).walk("VEVENT")))
    assert str(event["uid"]) == appointment.uid
    assert event["dtstart"].dt.tzinfo.key == "America/Denver"
    assert referral.reference not in response.content.decode()


# --- when nothing can be booked ---------------------------------------------------------------


def test_a_closed_referral_says_so_and_writes_nothing(client, url, referral, monday):
    referral_close(
        referral=referral, outcome=Outcome.DECLINED, reason_code="lead_declined", actor="system:t"
    )
    response = client.get(url)
    assert response.status_code == 200
    assert "This request is closed" in text(response)
    response = book_post(client, url)
    assert response.status_code == 409
    assert "This request is closed" in text(response)
    assert not Appointment.objects.exists()


def test_while_the_team_waits_for_information_nothing_can_be_booked(
    client, url, referral, paula, monday
):
    referral_request_info(referral=referral, items=["lead.email"], actor=paula)
    page = text(client.get(url))
    assert "Times cannot be booked yet" in page and 'name="start"' not in page
    response = book_post(client, url)
    assert response.status_code == 409
    assert "Times cannot be booked or changed here at the moment" in text(response)
    assert nothing_booked(referral)


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_link_is_the_clear_page_and_writes_nothing(
    client, url, referral, monday, method
):
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    response = getattr(client, method)(tampered, {"action": "book", "start": TUESDAY_10_DENVER})
    assert response.status_code == 404
    assert "This link has expired or is not valid" in text(response)
    assert nothing_booked(referral)


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_link_is_the_clear_page_and_writes_nothing(client, url, referral, method):
    with time_machine.travel(MONDAY + timedelta(days=61), tick=False):
        response = getattr(client, method)(
            url, {"action": "book", "type": "support-call", "start": "2027-02-09T08:00:00-07:00"}
        )
    assert response.status_code == 404
    assert "This link has expired or is not valid" in text(response)
    assert nothing_booked(referral)
