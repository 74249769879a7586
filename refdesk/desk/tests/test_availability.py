"""Availability: one's own working hours and time off, and a team's default hours and holidays
for who supervises it; booking (``next_free_slots``) follows what is saved here."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from refdesk.accounts.models import Team, User
from refdesk.accounts.services import team_lead_set
from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ValidationFailed
from refdesk.desk.tests.schedule import MONDAY, support_referral
from refdesk.scheduling.models import TimeOff, WorkingHours
from refdesk.scheduling.services import working_hours_set
from refdesk.testing import agent, approve_all_content, coordinator, owner
from refdesk.workflow.booking import next_free_slots

pytestmark = pytest.mark.django_db

PAGE = "/desk/availability/"
HOURS = "/desk/availability/hours"
TIME_OFF = "/desk/availability/time-off"
LA = ZoneInfo("America/Los_Angeles")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def monday(time_machine):
    time_machine.move_to(MONDAY, tick=False)


@pytest.fixture
def paula():
    approve_all_content()
    return agent()


@pytest.fixture
def referral(paula):
    return support_referral(1)


def team() -> Team:
    return Team.objects.get(slug="patient-services")


def lead_of_team(username: str = "lee.lead") -> User:
    user = agent(username)
    team_lead_set(team=team(), user=user, lead=True, actor="system:test")
    return User.objects.get(pk=user.pk)


def slots_of(referral, member):
    slots = next_free_slots(referral=referral, type_key="support-call", lead=False, now=MONDAY)
    return [slot for slot in slots if slot.member_id == member.pk]


def post(client, user, path, data):
    client.force_login(user)
    return client.post(path, data)


def test_hours_saved_in_my_zone_are_the_times_booking_offers(client, paula, referral):
    response = post(
        client,
        paula,
        HOURS,
        {"timezone": "America/Los_Angeles", "d1-1-starts": "06:00", "d1-1-ends": "08:00"},
    )
    assert response.status_code == 302
    assert list(WorkingHours.objects.filter(user=paula).values_list("timezone", flat=True)) == [
        "America/Los_Angeles"
    ]
    slots = slots_of(referral, paula)
    assert slots, "Tuesday 06:00-08:00 Los Angeles is in the booking window"
    for slot in slots:
        local = slot.starts_at.astimezone(LA)
        assert local.weekday() == 1 and 6 <= local.hour < 8
    event = AuditEvent.objects.filter(action="working_hours.set").get()
    assert event.subject_id == str(paula.public_id)
    assert event.changes["hours"]["new"] == ["Tue 06:00-08:00"]


def test_the_page_shows_the_hours_saved_and_which_apply(client, paula):
    client.force_login(paula)
    page = client.get(PAGE).content.decode()
    assert "Patient Services: the business hours of its programs." in page
    post(client, paula, HOURS, {"timezone": "Europe/London", "d0-1-starts": "09:00",
                                "d0-1-ends": "12:00", "d0-2-starts": "13:00",
                                "d0-2-ends": "17:00"})  # fmt: skip
    page = client.get(PAGE).content.decode()
    assert "Your own hours below apply" in page
    assert 'value="13:00"' in page and 'value="Europe/London" selected' in page


def test_an_unknown_time_zone_is_refused_and_nothing_is_written(client, paula):
    response = post(
        client, paula, HOURS, {"timezone": "Mars/Olympus", "d0-1-starts": "09:00",
                               "d0-1-ends": "17:00"}
    )  # fmt: skip
    assert response.status_code == 422
    page = response.content.decode()
    assert "There is a problem" in page and "Choose a time zone from the list." in page
    assert 'href="#f-timezone"' in page
    assert 'value="09:00"' in page  # what was typed stays
    assert not WorkingHours.objects.exists()
    assert not AuditEvent.objects.filter(action="working_hours.set").exists()


def test_each_wrong_interval_is_named_beside_its_field(client, paula):
    response = post(
        client,
        paula,
        HOURS,
        {
            "timezone": "America/New_York",
            "d0-1-starts": "17:00",
            "d0-1-ends": "09:00",
            "d1-1-starts": "9am",
            "d1-1-ends": "17:00",
            "d2-1-starts": "09:00",
            "d2-1-ends": "13:00",
            "d2-2-starts": "12:00",
            "d2-2-ends": "15:00",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Monday, interval 1: The end must be after the start." in page
    assert "Tuesday, interval 1: Enter a start time like 09:00." in page
    assert "Wednesday, interval 2: It overlaps 09:00-13:00 on the same day." in page
    assert 'id="e-d0-1-ends"' in page
    assert not WorkingHours.objects.exists()


def test_time_off_removes_the_slots_in_it_until_it_is_removed(client, paula, referral):
    tuesday = [s for s in slots_of(referral, paula) if s.starts_at.astimezone(NEW_YORK).day == 8]
    assert tuesday
    response = post(
        client,
        paula,
        TIME_OFF,
        {"starts_at": "2026-12-08T00:00", "ends_at": "2026-12-09T00:00", "label": "Training"},
    )
    assert response.status_code == 302
    row = TimeOff.objects.get(user=paula)
    assert row.starts_at == datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # midnight in New York
    assert not [s for s in slots_of(referral, paula) if s.starts_at.astimezone(NEW_YORK).day == 8]
    assert "Training" in client.get(PAGE).content.decode()
    assert post(client, paula, f"{TIME_OFF}/{row.public_id}/remove", {}).status_code == 302
    assert not TimeOff.objects.exists()
    assert [s for s in slots_of(referral, paula) if s.starts_at.astimezone(NEW_YORK).day == 8]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"time_off.added", "time_off.removed"} <= actions


@pytest.mark.parametrize(
    "data, message",
    [
        ({"starts_at": "2026-12-01T09:00", "ends_at": "2026-12-02T09:00", "label": "Away"},
         "It has already ended"),
        ({"starts_at": "2026-12-09T09:00", "ends_at": "2026-12-08T09:00", "label": "Away"},
         "The end must be after the start."),
        ({"starts_at": "2026-12-09T09:00", "ends_at": "2026-12-10T09:00", "label": " "},
         "Enter a short label, such as Holiday."),
        ({"starts_at": "tomorrow", "ends_at": "2026-12-10T09:00", "label": "Away"},
         "Enter the start as a date and time."),
    ],
)  # fmt: skip
def test_time_off_it_cannot_take_is_refused_with_the_reason(client, paula, data, message):
    response = post(client, paula, TIME_OFF, data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not TimeOff.objects.exists()


def test_a_team_lead_sets_a_team_holiday_that_frees_nobody_that_day(client, paula, referral):
    lee = lead_of_team()
    client.force_login(lee)
    assert client.get(f"{PAGE}?team=patient-services").status_code == 200
    response = post(
        client,
        lee,
        TIME_OFF,
        {
            "team": "patient-services",
            "starts_at": "2026-12-08T00:00",
            "ends_at": "2026-12-09T00:00",
            "label": "Team training day",
        },
    )
    assert response.status_code == 302
    assert TimeOff.objects.get().team == team()
    assert not [s for s in slots_of(referral, paula) if s.starts_at.astimezone(NEW_YORK).day == 8]
    # The members see it on their own page.
    client.force_login(paula)
    assert "Patient Services: Team training day" in client.get(PAGE).content.decode()


def test_a_team_lead_sets_the_teams_default_hours(client, paula, referral):
    response = post(
        client,
        lead_of_team(),
        HOURS,
        {"team": "patient-services", "timezone": "America/New_York", "d2-1-starts": "10:00",
         "d2-1-ends": "11:00"},
    )  # fmt: skip
    assert response.status_code == 302
    assert WorkingHours.objects.get().team == team()
    slots = slots_of(referral, paula)
    assert slots and {s.starts_at.astimezone(NEW_YORK).weekday() for s in slots} == {2}


def test_a_program_owner_in_the_team_edits_it_too(client, paula):
    olga = owner()
    client.force_login(olga)
    assert client.get(f"{PAGE}?team=patient-services").status_code == 200


def test_a_member_who_does_not_lead_the_team_cannot_edit_it(client, paula):
    client.force_login(paula)
    assert client.get(f"{PAGE}?team=patient-services").status_code == 404
    hours = {"team": "patient-services", "timezone": "America/New_York", "d0-1-starts": "09:00",
             "d0-1-ends": "10:00"}  # fmt: skip
    assert client.post(HOURS, hours).status_code == 404
    holiday = {"team": "patient-services", "starts_at": "2026-12-08T00:00",
               "ends_at": "2026-12-09T00:00", "label": "Holiday"}  # fmt: skip
    assert client.post(TIME_OFF, holiday).status_code == 404
    assert not WorkingHours.objects.exists() and not TimeOff.objects.exists()
    # ... nor can an outsider lead of another team.
    assert post(client, coordinator(), HOURS, hours).status_code == 404


def test_nobody_removes_anothers_time_off(client, paula):
    post(
        client,
        paula,
        TIME_OFF,
        {"starts_at": "2026-12-08T00:00", "ends_at": "2026-12-09T00:00", "label": "Training"},
    )
    row = TimeOff.objects.get()
    response = post(client, lead_of_team(), f"{TIME_OFF}/{row.public_id}/remove", {})
    assert response.status_code == 404
    assert TimeOff.objects.exists()


def test_the_service_refuses_a_fourth_interval_a_day_and_an_unknown_weekday(paula):
    rows = [(0, time(h), time(h, 30)) for h in (8, 10, 12, 14)] + [(7, time(9), time(10))]
    with pytest.raises(ValidationFailed) as refused:
        working_hours_set(owner_user=paula, rows=rows, timezone="Europe/Paris", actor=paula)
    assert [e["field"] for e in refused.value.errors] == ["rows.3.starts", "rows.4.weekday"]
    assert not WorkingHours.objects.exists()


def test_saving_the_same_hours_again_changes_and_audits_nothing(paula):
    rows = [(0, time(9), time(17))]
    working_hours_set(owner_user=paula, rows=rows, timezone="Europe/Paris", actor=paula)
    working_hours_set(owner_user=paula, rows=rows, timezone="Europe/Paris", actor=paula)
    assert AuditEvent.objects.filter(action="working_hours.set").count() == 1
    working_hours_set(owner_user=paula, rows=[], timezone="Europe/Paris", actor=paula)
    assert not WorkingHours.objects.exists()
    assert AuditEvent.objects.filter(action="working_hours.set").count() == 2
