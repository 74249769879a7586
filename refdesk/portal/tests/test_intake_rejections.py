"""A refused web intake form is counted in the rejection statistics, one row per error it shows;
a good submission and a bot are not. (Bulk-import rows: test_bulk_import.)"""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.db import DatabaseError

from refdesk.intake.models import Referral, Rejection
from refdesk.portal.tests.test_intake_pages import trial_form_data
from refdesk.testing import make_referrer

pytestmark = pytest.mark.django_db
PROGRAM, SOURCE = "trial-prescreening", "study-coordinator"
# Distinctive values: none may reach a statistics row.
PHONE, EMAIL = "0199 4242 0199 4242 77", "zebulon.quartz@nowhere-such"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def coordinator(db):
    return make_referrer(PROGRAM, SOURCE)


def rows():
    return sorted(
        Rejection.objects.values_list("program__slug", "source__slug", "method", "field", "code")
    )


def assert_no_values():
    stored = json.dumps(list(Rejection.objects.values()), default=str)
    for value in ("4242", "0199", "zebulon", "quartz", "nowhere", "Avery", "Quill", "old"):
        assert value not in stored


def test_a_refused_form_counts_each_error_it_shows(client, coordinator):
    response = client.post(
        f"/r/{coordinator.code}",
        trial_form_data(lead_email=EMAIL, lead_phone=PHONE, lead_given_name="", answer_age="old"),
    )
    assert response.status_code == 200 and Referral.objects.count() == 0
    # Django's own checks (a required name, a number that is not one) and the service's (the
    # email and phone), each under the submission's path.
    assert rows() == [
        (PROGRAM, SOURCE, "web", "answers.age", "invalid"),
        (PROGRAM, SOURCE, "web", "lead.email", "invalid_email"),
        (PROGRAM, SOURCE, "web", "lead.given_name", "required"),
        (PROGRAM, SOURCE, "web", "lead.phone", "invalid_phone"),
    ]
    assert_no_values()


def test_a_missing_consent_is_counted_under_the_consent(client, coordinator):
    # The service's error lands on the consent box; the row keeps the service's path and code.
    client.post(f"/r/{coordinator.code}", trial_form_data(consent_granted=None))
    assert rows() == [(PROGRAM, SOURCE, "web", "consent", "consent_required")]


def test_a_good_submission_and_a_bot_record_nothing(client, coordinator):
    assert client.post(f"/r/{coordinator.code}", trial_form_data()).status_code == 302
    bot = trial_form_data(website="http://spam", lead_phone=PHONE)
    assert client.post(f"/r/{coordinator.code}", bot).status_code == 200
    assert client.get(f"/r/{coordinator.code}").status_code == 200
    assert Rejection.objects.count() == 0


def test_a_failure_to_record_still_shows_the_form_with_its_errors(client, coordinator, monkeypatch):
    def broken(*args, **kwargs):
        raise DatabaseError("the statistics table is gone")

    monkeypatch.setattr(Rejection.objects, "bulk_create", broken)
    response = client.post(f"/r/{coordinator.code}", trial_form_data(lead_phone=PHONE))
    assert response.status_code == 200
    assert b"This is not a valid phone number" in response.content
