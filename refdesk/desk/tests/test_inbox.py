"""Notifications (a new assignment, a first response about to fall due) and the user's time-zone
preference: each user's own, written with the change that caused it, audited."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError
from refdesk.intake.models import Referral
from refdesk.testing import action_url, coordinator, login, owner, submit, trial
from refdesk.workflow.assignment import referral_assign_to, referral_claim
from refdesk.workflow.models import Notification
from refdesk.workflow.notifications import inbox_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def handover():
    carl = coordinator()
    referral = submit("trial-prescreening", trial(1))
    return {"carl": carl, "cleo": coordinator("cleo.coordinator"), "owner": owner(), "r": referral}


def test_an_assignment_by_someone_else_notifies_the_assignee_in_the_same_transaction(
    client, handover
):
    referral, cleo = handover["r"], handover["cleo"]
    response = login(client, handover["owner"]).post(
        action_url(referral, "assign_to"), {"assignee": str(cleo.public_id)}
    )
    assert response.status_code == 302
    (note,) = Notification.objects.filter(user=cleo)
    assert note.referral_id == referral.pk and note.actor == "user:olga.owner"
    assert note.read_at is None
    page = login(client, cleo).get("/desk/notifications").content.decode()
    assert referral.reference in page and "Assigned to you" in page
    assert "Avery" not in page  # no patient data in notifications


def test_a_refused_assignment_leaves_no_notification(handover):
    cleo = handover["cleo"]
    cleo.memberships.update(available=False)
    with pytest.raises(ApplicationError):
        referral_assign_to(referral=handover["r"], assignee=cleo, actor=handover["owner"])
    assert not Notification.objects.filter(user=cleo).exists()


def test_claiming_for_oneself_notifies_nobody(handover):
    before = Notification.objects.count()
    referral_claim(referral=handover["r"], user=handover["carl"])
    assert Notification.objects.count() == before


def test_automatic_assignment_at_intake_notifies_the_member_it_chose(handover):
    # The fixture's referral was assigned to carl by routing (least-loaded member).
    assert Notification.objects.filter(user=handover["carl"], referral=handover["r"]).exists()


def test_the_badge_counts_unread_and_referrals_about_to_breach(client, handover):
    carl, referral = handover["carl"], handover["r"]
    Notification.objects.all().delete()
    assert inbox_count(carl) == 0
    due = Referral.objects.get(pk=referral.pk).first_response_due_at
    with time_machine.travel(due - dt.timedelta(minutes=30), tick=False):
        assert inbox_count(carl) == 1
        page = login(client, carl).get("/desk/notifications").content.decode()
        assert referral.reference in page.split('id="due-heading"')[1].split("</section>")[0]
        badge = client.get("/desk/notifications/badge").content.decode()
        assert 'badge--count">1<' in badge
    with time_machine.travel(due - dt.timedelta(hours=5), tick=False):
        assert inbox_count(carl) == 0  # not yet close


def test_marking_read_touches_only_ones_own(client, handover):
    referral_assign_to(referral=handover["r"], assignee=handover["cleo"], actor=handover["owner"])
    carl_unread = Notification.objects.filter(user=handover["carl"], read_at__isnull=True).count()
    login(client, handover["cleo"]).post("/desk/notifications/read")
    assert not Notification.objects.filter(user=handover["cleo"], read_at__isnull=True).exists()
    assert (
        Notification.objects.filter(user=handover["carl"], read_at__isnull=True).count()
        == carl_unread
    )


def test_a_user_chooses_their_time_zone_and_the_change_is_audited(client):
    carl = coordinator()
    response = login(client, carl).post("/desk/preferences", {"timezone": "Europe/Paris"})
    assert response.status_code == 302
    carl.refresh_from_db()
    assert carl.timezone == "Europe/Paris"
    (event,) = AuditEvent.objects.filter(action="user.preferences_changed")
    assert event.changes["timezone"] == {"old": "", "new": "Europe/Paris"}
    page = client.get("/desk/preferences").content.decode()
    assert "Times are now shown in Europe/Paris." in page
    with timezone.override("UTC"):
        assert '<option value="Europe/Paris" selected>' in page


@pytest.mark.parametrize("bad", ["US/Eastern", "Etc/GMT+5", "Mars/Olympus", "x" * 100])
def test_an_alias_or_unknown_zone_is_refused_with_a_focused_summary(client, bad):
    carl = coordinator()
    response = login(client, carl).post("/desk/preferences", {"timezone": bad})
    page = response.content.decode()
    assert response.status_code == 422
    assert "<title>Error: " in page and 'href="#f-timezone"' in page
    assert "Choose a time zone from the list." in page
    carl.refresh_from_db()
    assert carl.timezone == ""
    assert not AuditEvent.objects.filter(action="user.preferences_changed").exists()


def test_the_list_offers_no_deprecated_aliases(client):
    page = login(client, coordinator()).get("/desk/preferences").content.decode()
    assert 'value="America/New_York"' in page and 'value="Europe/London"' in page
    for alias in ("US/Eastern", "Etc/GMT", "EST5EDT", "GB", "Navajo"):
        assert f'value="{alias}"' not in page
