"""The private calendar feed: its URL is shown once; calendar programs read it without a session;
it names appointment types and referral references, never the lead; revoking it ends it."""

import re
from datetime import timedelta

import icalendar
import pytest

from refdesk.audit.models import AuditEvent
from refdesk.desk.tests.schedule import MONDAY, TUESDAY_10, booked
from refdesk.scheduling.models import CalendarFeed
from refdesk.testing import agent, approve_all_content, auditor, phone
from refdesk.workflow.booking import appointment_cancel

pytestmark = pytest.mark.django_db

PAGE = "/desk/calendar/"
FEED_URL = re.compile(r"http://testserver(/calendar/[A-Za-z0-9_-]{43}\.ics)")


@pytest.fixture(autouse=True)
def monday(time_machine):
    time_machine.move_to(MONDAY, tick=False)


@pytest.fixture
def paula():
    approve_all_content()
    return agent()


def create(client, user) -> str:
    """Create the user's feed through the page; the feed's path, read off the page."""
    client.force_login(user)
    response = client.post(f"{PAGE}create")
    assert response.status_code == 200
    return FEED_URL.search(response.content.decode()).group(1)


def read(client, path: str):
    client.logout()  # a calendar program has no session
    return client.get(path)


def test_the_url_is_shown_once_then_only_whether_it_is_live(client, paula):
    client.force_login(paula)
    assert "You have no live calendar address." in client.get(PAGE).content.decode()
    response = client.post(f"{PAGE}create")
    page = response.content.decode()
    assert "Copy it now; it is not shown again." in page
    assert FEED_URL.search(page)
    assert "no-store" in response["Cache-Control"]
    page = client.get(PAGE).content.decode()
    assert not FEED_URL.search(page) and ".ics" not in page
    assert "Live" in page and "Not yet" in page
    # Only the token's hash is stored.
    token = FEED_URL.search(response.content.decode()).group(1)[len("/calendar/") : -len(".ics")]
    assert not CalendarFeed.objects.filter(token_hash=token).exists()


def test_the_feed_lists_the_members_appointment_with_its_uid_and_no_lead_data(client, paula):
    appointment = booked(paula)
    path = create(client, paula)
    response = read(client, path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Cache-Control"] == "private, no-store"
    body = response.content.decode()
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert [str(event["uid"]) for event in events] == [appointment.uid]
    summary = str(events[0]["summary"])
    assert summary == f"Patient support call - {appointment.referral.reference}"
    assert events[0].decoded("dtstart") == TUESDAY_10
    for lead_data in ("Alex", "Moreno", "patient1@example.net", phone(1)):
        assert lead_data not in body
    assert CalendarFeed.objects.get().last_read_at == MONDAY
    client.force_login(paula)
    assert "Not yet" not in client.get(PAGE).content.decode()


def test_the_feed_leaves_out_cancelled_appointments_and_other_members(client, paula):
    kept = booked(paula)
    cancelled = booked(paula, 2, TUESDAY_10 + timedelta(hours=1))
    appointment_cancel(appointment=cancelled, actor=paula, reason="booked_in_error")
    booked(agent("pat.colleague"), 3)
    body = read(client, create(client, paula)).content.decode()
    uids = [str(e["uid"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
    assert uids == [kept.uid]


def test_a_revoked_or_replaced_url_is_not_found(client, paula):
    first = create(client, paula)
    second = create(client, paula)  # replaces the first
    assert read(client, first).status_code == 404
    assert read(client, second).status_code == 200
    client.force_login(paula)
    assert client.post(f"{PAGE}revoke").status_code == 302
    assert read(client, second).status_code == 404
    assert read(client, "/calendar/not-a-token.ics").status_code == 404
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 0


def test_creating_and_revoking_are_audited_without_the_token(client, paula):
    path = create(client, paula)
    client.force_login(paula)
    client.post(f"{PAGE}revoke")
    events = list(AuditEvent.objects.filter(action__startswith="calendar_feed.").order_by("seq"))
    assert [e.action for e in events] == ["calendar_feed.created", "calendar_feed.revoked"]
    feed = CalendarFeed.objects.get()
    assert {e.subject_id for e in events} == {str(feed.public_id)}
    assert all(e.actor == "user:paula.agent" for e in events)
    token = path[len("/calendar/") : -len(".ics")]
    assert not AuditEvent.objects.filter(changes__icontains=token).exists()


def test_roles_without_appointments_have_no_feed_page(client):
    client.force_login(auditor())
    assert client.get(PAGE).status_code == 404
    assert client.post(f"{PAGE}create").status_code == 404
    assert not CalendarFeed.objects.exists()
