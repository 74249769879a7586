"""The agenda page: a day or a week of appointments in the reader's time zone; whose agenda
each role may read (not permitted looks like not found); bad parameters are a 400."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from refdesk.accounts.models import Team, User
from refdesk.accounts.services import team_lead_set
from refdesk.desk.tests.schedule import MONDAY, TUESDAY_10, booked
from refdesk.testing import agent, approve_all_content, auditor, coordinator, owner, rep

pytestmark = pytest.mark.django_db

AGENDA = "/desk/agenda/"


@pytest.fixture(autouse=True)
def monday(time_machine):
    time_machine.move_to(MONDAY, tick=False)


@pytest.fixture
def paula():
    approve_all_content()
    return agent()


@pytest.fixture
def appointment(paula):
    return booked(paula)


def in_zone(user: User, zone: str) -> User:
    User.objects.filter(pk=user.pk).update(timezone=zone)
    user.refresh_from_db()
    return user


def get(client, user, query: str = ""):
    client.force_login(user)
    return client.get(AGENDA + query)


def test_my_week_is_the_default_and_shows_each_appointment_in_my_time_zone(
    client, paula, appointment
):
    in_zone(paula, "America/Los_Angeles")
    response = get(client, paula)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Your agenda" in page
    assert "Week of Monday 7 December 2026" in page
    # 15:00 UTC is 07:00 in Los Angeles; the entry ends 15 minutes later.
    assert "07:00</time>–<time" in page and "07:15 PST" in page
    assert "Patient support call" in page and "Booked" in page
    assert appointment.referral.reference in page
    assert f"/desk/referrals/{appointment.referral.public_id}" in page
    lead = appointment.referral
    assert "Moreno" not in page and "patient1@example.net" not in page, lead.reference


def test_the_day_view_cuts_days_at_the_readers_midnight(client, paula, appointment):
    # 15:00 UTC on Tuesday is already Wednesday 00:00 in Tokyo.
    in_zone(paula, "Asia/Tokyo")
    tuesday = get(client, paula, "?view=day&date=2026-12-08").content.decode()
    wednesday = get(client, paula, "?view=day&date=2026-12-09").content.decode()
    assert appointment.referral.reference not in tuesday
    assert appointment.referral.reference in wednesday
    assert "00:00</time>" in wednesday and "Wednesday 9 December 2026" in wednesday


def test_previous_and_next_move_by_the_period_shown(client, paula, appointment):
    page = get(client, paula, "?view=day&date=2026-12-08").content.decode()
    assert "date=2026-12-07" in page and "date=2026-12-09" in page
    page = get(client, paula, "?date=2026-12-09").content.decode()
    assert "view=week&amp;date=2026-11-30" in page and "view=week&amp;date=2026-12-14" in page
    next_week = get(client, paula, "?date=2026-12-14").content.decode()
    assert appointment.referral.reference not in next_week


def test_a_team_agenda_is_open_to_its_members_and_not_found_for_outsiders(
    client, paula, appointment
):
    colleague = agent("pat.colleague")
    response = get(client, colleague, "?team=patient-services")
    assert response.status_code == 200
    assert appointment.referral.reference in response.content.decode()
    assert get(client, coordinator(), "?team=patient-services").status_code == 404
    assert get(client, paula, "?team=no-such-team").status_code == 404


def test_a_members_agenda_is_for_their_team_leads_and_program_owners(client, paula, appointment):
    query = f"?member={paula.public_id}"
    colleague = agent("pat.colleague")
    assert get(client, colleague, query).status_code == 404
    team_lead_set(
        team=Team.objects.get(slug="patient-services"),
        user=colleague,
        lead=True,
        actor="system:test",
    )
    colleague = User.objects.get(pk=colleague.pk)  # the policy caches teams per user object
    response = get(client, colleague, query)
    assert response.status_code == 200
    assert appointment.referral.reference in response.content.decode()
    assert get(client, owner(), query).status_code == 200
    assert get(client, coordinator(), query).status_code == 404
    assert get(client, paula, "?member=not-a-uuid").status_code == 404


def test_the_rep_and_the_auditor_see_no_other_agenda(client, paula, appointment):
    cody = rep()
    assert get(client, cody, "?team=patient-services").status_code == 404
    assert get(client, cody, f"?member={paula.public_id}").status_code == 404
    # The rep holds appointments with clinicians: their own agenda is theirs.
    assert get(client, cody).status_code == 200
    ines = auditor()
    assert get(client, ines).status_code == 404
    assert get(client, ines, "?team=patient-services").status_code == 404


def test_a_rep_in_a_patient_team_sees_no_appointment_with_a_patient_lead(
    client, paula, appointment
):
    cody = rep()
    Team.objects.get(slug="patient-services").memberships.create(user=cody, available=False)
    page = get(client, cody, "?team=patient-services").content.decode()
    assert appointment.referral.reference not in page


@pytest.mark.parametrize(
    "query, message",
    [
        ("?date=garbage", "The date must be a real date"),
        ("?date=2026-02-30", "The date must be a real date"),
        ("?date=20261208", "The date must be a real date"),
        ("?view=month", "The view must be day or week."),
        ("?team=patient-services&member=x", "Choose a member or a team, not both."),
    ],
)
def test_a_parameter_it_cannot_read_is_a_400_saying_what_is_wrong(client, paula, query, message):
    response = get(client, paula, query)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and "There is a problem" in page


def test_the_query_count_does_not_grow_with_the_appointments(client, paula, appointment):
    client.force_login(paula)
    query = "?team=patient-services"

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(AGENDA + query).status_code == 200
        return len(queries)

    one = count()
    booked(paula, 2, TUESDAY_10 + timedelta(minutes=30))
    booked(paula, 3, TUESDAY_10 + timedelta(hours=1))
    booked(paula, 4, TUESDAY_10 + timedelta(days=1))
    assert count() == one


def test_the_navigation_links_the_agenda_for_those_who_hold_appointments(client, paula):
    client.force_login(paula)
    assert 'href="/desk/agenda/"' in client.get("/desk/work").content.decode()
    client.force_login(auditor())
    assert 'href="/desk/agenda/"' not in client.get("/desk/work").content.decode()
