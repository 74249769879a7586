"""Completing a needs_info referral: the emailed request, the signed link, referral_complete."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import InvalidTransition, ValidationFailed
from refdesk.intake.choices import Stage
from refdesk.intake.links import completion_token, status_url, thanks_token
from refdesk.intake.models import MissingItem, Referral
from refdesk.portal.tests.test_intake_pages import Page
from refdesk.referrers.models import Source
from refdesk.referrers.services import referrer_create
from refdesk.testing import trial_submission, without_ids
from refdesk.workflow.submission import referral_complete, referral_submit

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()


@pytest.fixture
def coordinator():
    source = Source.objects.get(program__slug="trial-prescreening", slug="study-coordinator")
    return referrer_create(
        source=source, name="Jo Coordinator", email="jo@site.example", actor="system:test"
    )


def _incomplete(referrer, **extra):
    """A trial referral by email without the family name and without a time zone (and no phone
    number to work it out from)."""
    lead = {"family_name": None, "timezone": None, "phone": None, "preferred_contact": "email"}
    submission = trial_submission(lead={**lead, **extra})
    return referral_submit(
        referrer=referrer, submission=submission, method="api", actor=referrer
    ).referral


def _link(referral):
    return f"/r/{referral.referrer.code}/complete/{completion_token(referral)}"


def test_an_incomplete_referral_emails_the_referrer_the_missing_item_names_only(
    coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        referral = _incomplete(coordinator)
    assert referral.stage == Stage.NEEDS_INFO
    assert referral.missing == ["lead.family_name", "lead.timezone"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["jo@site.example"]
    assert referral.reference in message.subject
    assert "Family name" in message.body and "Time zone" in message.body
    assert f"/r/{coordinator.code}/complete/" in message.body
    assert status_url(referral) in message.body  # the referrer's own status link
    body = without_ids(message.body)  # "1970" turns up in the links' random tokens by chance
    for patient_value in ("Avery", "Quill", "example.org", "1970", "RDX-301"):
        assert patient_value not in body and patient_value not in message.subject
    assert AuditEvent.objects.filter(action="referral.info_requested").count() == 1


def test_no_request_is_sent_for_a_complete_referral_or_a_referrer_without_email(
    coordinator, django_capture_on_commit_callbacks
):
    source = coordinator.source
    silent = referrer_create(source=source, name="No Mail", actor="system:test")
    with django_capture_on_commit_callbacks(execute=True):
        referral_submit(
            referrer=coordinator, submission=trial_submission(), method="api", actor=coordinator
        )
        _incomplete(silent)
    assert mail.outbox == []


def test_the_completion_link_asks_only_for_the_missing_items_and_completes_the_referral(
    client, coordinator
):
    referral = _incomplete(coordinator)
    page = Page(client.get(_link(referral)).content.decode())
    names = {e["attrs"].get("name") for e in page.elements if e["tag"] in ("input", "select")}
    assert names - {"csrfmiddlewaretoken"} == {"lead_family_name", "lead_timezone"}
    assert referral.reference in Page.text(page.find("main")[0])

    response = client.post(
        _link(referral), {"lead_family_name": "Quill", "lead_timezone": "America/Chicago"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    # Complete now, so routed like any complete referral (trial leads go to prescreening).
    assert referral.stage == Stage.QUEUED and referral.missing == []
    assert referral.queue.slug == "clinical-ops-prescreening"
    assert referral.lead["family_name"] == "Quill"
    assert referral.lead["given_name"] == "Avery"  # the rest of the lead is kept
    assert referral.lead_timezone == "America/Chicago" and referral.email_index
    event = AuditEvent.objects.get(action="referral.info_supplied")
    assert event.changes["supplied"]["new"] == ["lead.family_name", "lead.timezone"]
    assert event.changes["stage"] == {"old": "needs_info", "new": "received"}
    assert "Quill" not in str(event.changes) and "Chicago" not in str(event.changes)
    confirmation = client.get(response["Location"]).content.decode()
    assert referral.reference in confirmation and "Quill" not in confirmation
    # The link has done its job.
    assert b"Nothing more is needed" in client.get(_link(referral)).content


def test_supplying_part_of_the_missing_items_keeps_the_rest_on_the_list(client, coordinator):
    referral = _incomplete(coordinator)
    response = client.post(_link(referral), {"lead_timezone": "America/Chicago"})
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.stage == Stage.NEEDS_INFO and referral.missing == ["lead.family_name"]
    # The report counts keep both items; only the supplied one is stamped resolved.
    resolved = dict(
        MissingItem.objects.filter(referral=referral).values_list("field", "resolved_at")
    )
    assert set(resolved) == {"lead.family_name", "lead.timezone"}
    assert resolved["lead.timezone"] is not None and resolved["lead.family_name"] is None
    html = client.get(response["Location"]).content.decode()
    assert "Family name" in html and "Add the missing information now" in html


def test_an_invalid_value_is_shown_on_its_field_and_nothing_changes(client, coordinator):
    referral = _incomplete(coordinator)
    response = client.post(_link(referral), {"lead_timezone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    page = Page(response.content.decode())
    zone = page.by_id("id_lead_timezone")
    assert zone["attrs"]["aria-invalid"] == "true"
    assert "Select a valid choice" in Page.text(page.by_id("id_lead_timezone_error"))
    referral.refresh_from_db()
    assert referral.missing == ["lead.family_name", "lead.timezone"]
    assert not AuditEvent.objects.filter(action="referral.info_supplied").exists()


def test_an_empty_completion_is_refused_with_a_message(client, coordinator):
    referral = _incomplete(coordinator)
    response = client.post(_link(referral), {})
    assert b"Give at least one of the missing items." in response.content


def test_an_expired_link_gets_a_clear_page(client, coordinator):
    with time_machine.travel(NOW, tick=False):
        referral = _incomplete(coordinator)
        link = _link(referral)
    with time_machine.travel(NOW + dt.timedelta(days=13), tick=False):
        assert client.get(link).status_code == 200
    with time_machine.travel(NOW + dt.timedelta(days=15), tick=False):
        response = client.get(link)
    assert response.status_code == 410
    assert b"This link has expired" in response.content


def test_a_tampered_or_misdirected_link_is_not_found(client, coordinator):
    referral = _incomplete(coordinator)
    token = completion_token(referral)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(f"/r/{coordinator.code}/complete/{tampered}").status_code == 404
    assert client.get(f"/r/{coordinator.code}/complete/garbage").status_code == 404
    # A confirmation token does not open the completion page.
    thanks = thanks_token(referral)
    assert client.get(f"/r/{coordinator.code}/complete/{thanks}").status_code == 404
    other = referrer_create(source=coordinator.source, name="Other", actor="system:test")
    assert client.get(f"/r/{other.code}/complete/{token}").status_code == 404


def test_referral_complete_refuses_items_that_were_not_missing(coordinator):
    referral = _incomplete(coordinator)
    with pytest.raises(ValidationFailed) as failed:
        referral_complete(
            referral=referral,
            lead_updates={"timezone": "America/Chicago", "email": "someone.else@example.org"},
            answer_updates={},
            actor=coordinator,
        )
    assert [e["code"] for e in failed.value.errors] == ["not_missing"]
    referral.refresh_from_db()
    assert referral.lead["email"].lower() == "avery.quill@example.org"


def test_referral_complete_only_applies_to_referrals_waiting_for_information(coordinator):
    referral = referral_submit(
        referrer=coordinator, submission=trial_submission(), method="api", actor=coordinator
    ).referral
    with pytest.raises(InvalidTransition):
        referral_complete(
            referral=referral, lead_updates={"timezone": "UTC"}, answer_updates={}, actor="x:y"
        )
    assert Referral.objects.get(pk=referral.pk).stage == Stage.QUEUED
