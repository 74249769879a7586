"""The reports dashboard: who may read it, what each role sees, the same numbers as the pack,
bounded queries, clear errors for bad filters, and the audited pack download."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from refdesk.audit.models import AuditEvent
from refdesk.intake.models import Referral
from refdesk.reports.monthly import monthly_report
from refdesk.reports.rollups import rollup_refresh
from refdesk.testing import (
    agent,
    auditor,
    coordinator,
    login,
    owner,
    rep,
    submit,
    support,
    without_ids,
)

pytestmark = pytest.mark.django_db

URL = "/desk/reports/"
NOW = dt.datetime(2027, 3, 10, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def history():
    made = []
    for n in range(7):
        at = dt.datetime(2027, 2, 2 + n, 15, 0, tzinfo=dt.UTC)
        with time_machine.travel(at, tick=False):
            made.append(submit("patient-support", support(700 + n), received_at=at))
    return made


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.parametrize("persona", [agent, coordinator])
def test_lead_workers_may_not_read_reports(client, persona):
    login(client, persona())
    assert client.get(URL).status_code == 404


def test_anonymous_goes_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_owner_sees_the_figures_the_pack_has(client, history):
    login(client, owner())
    response = client.get(URL, {"program": "patient-support", "period": "last_month"})
    assert response.status_code == 200
    page = response.content.decode()
    pack = monthly_report(program="patient-support", month="2027-02", now=NOW)
    assert pack.table("headline").rows[0]["received"] == 7
    assert ">7<" in page  # the headline tile
    # Charts as images (the console's CSP refuses the SVG's style attributes inline).
    assert "data:image/svg+xml;base64," in page and "<svg" not in page and "Funnel" in page
    assert "Oldest open work" in page  # the owner supervises the work
    assert history[0].reference in page


@pytest.mark.parametrize("persona", [rep, auditor])
def test_aggregate_roles_see_no_referral_and_small_numbers_hidden(client, history, persona):
    login(client, persona())
    response = client.get(URL, {"program": "patient-support", "period": "last_month"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Oldest open work" not in page
    for referral in history:
        assert referral.reference not in page
        assert str(referral.public_id) not in page
    assert "are hidden" in page
    # No lead value anywhere (names and emails of the support() leads).
    lead = Referral.objects.get(pk=history[0].pk).lead
    for value in (lead.get("family_name"), lead.get("email"), lead.get("phone")):
        if value:
            assert value not in without_ids(page)


def test_the_dashboard_reads_the_rollups_when_they_cover_the_period(client, history):
    rollup_refresh(full=True, now=NOW)
    login(client, owner())
    response = client.get(URL, {"program": "patient-support", "period": "all"})
    assert response.status_code == 200
    assert response.context["board"].from_rollups
    assert "Figures as of" in response.content.decode()


def test_bounded_queries_whatever_the_data(client, history, django_assert_max_num_queries):
    rollup_refresh(full=True, now=NOW)
    login(client, owner())
    with django_assert_max_num_queries(40):
        client.get(URL, {"period": "all"})
    for n in range(5):
        at = dt.datetime(2027, 1, 5 + n, 15, 0, tzinfo=dt.UTC)
        submit("patient-support", support(800 + n), received_at=at)
    rollup_refresh(now=NOW)
    with django_assert_max_num_queries(40):
        client.get(URL, {"period": "all"})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"program": "no-such-program"}, "Program"),
        ({"period": "forever"}, "Period"),
        ({"source": "patient-org"}, "Source"),
        ({"program": "patient-support", "source": "nope"}, "Source"),
    ],
)
def test_bad_filters_are_a_clear_400(client, query, field):
    login(client, owner())
    response = client.get(URL, query)
    assert response.status_code == 400
    assert field in response.content.decode()


def test_the_pack_download_is_audited_and_suppressed(client, history):
    login(client, owner())
    before = AuditEvent.objects.filter(action="report.exported").count()
    response = client.post(
        reverse("desk:reports_pack"),
        {"program": "patient-support", "month": "2027-02", "format": "csv"},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert AuditEvent.objects.filter(action="report.exported").count() == before + 1


def test_the_pack_download_refuses_bad_input_and_other_roles(client):
    login(client, owner())
    bad = client.post(
        reverse("desk:reports_pack"),
        {"program": "patient-support", "month": "2027-13", "format": "csv"},
    )
    assert bad.status_code == 400 and "YYYY-MM" in bad.content.decode()
    unknown = client.post(
        reverse("desk:reports_pack"),
        {"program": "nope", "month": "2027-02", "format": "csv"},
    )
    assert unknown.status_code == 404
    login(client, rep())
    assert (
        client.post(
            reverse("desk:reports_pack"),
            {"program": "patient-support", "month": "2027-02", "format": "csv"},
        ).status_code
        == 404
    )
