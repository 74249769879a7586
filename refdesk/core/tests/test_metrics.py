"""/metrics: protection, request latency by URL pattern (across processes), business figures."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from refdesk.core.metrics import MULTIPROC_ENV, scrape_registry
from refdesk.intake.models import Referral
from refdesk.outreach.models import Message
from refdesk.testing import make_referrer, submit, trial

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-0123456789"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics", **AUTH)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def test_metrics_do_not_exist_until_a_token_is_set(client):
    assert client.get("/metrics", **AUTH).status_code == 404


@override_settings(REFDESK_METRICS_TOKEN=TOKEN)
def test_metrics_want_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401
    assert client.get("/metrics", **AUTH).status_code == 200


@override_settings(REFDESK_METRICS_TOKEN=TOKEN, REFDESK_METRICS_ALLOW=["10.1.0.0/16"])
def test_metrics_can_be_limited_to_networks(client):
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.9", **AUTH).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.4.5", **AUTH).status_code == 200


@override_settings(
    REFDESK_METRICS_TOKEN=TOKEN, SECURE_SSL_REDIRECT=True, ALLOWED_HOSTS=["refdesk.example.org"]
)
def test_metrics_are_scraped_per_node_over_plain_http(client):
    assert client.get("/metrics", HTTP_HOST="10.0.0.7:8000", **AUTH).status_code == 200


@override_settings(REFDESK_METRICS_TOKEN=TOKEN)
def test_request_latency_is_labelled_by_url_pattern_never_by_path(client):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    client.get(f"/r/{referrer.code}")
    client.get("/r/status/forged-token-value")
    text = client.get("/metrics", **AUTH).content.decode()
    found = samples(text)
    key = (
        "refdesk_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "r/<str:code>"), ("status", "2xx")),
    )
    assert found[key] >= 1
    assert referrer.code not in text
    assert "forged-token-value" not in text
    assert 'route="r/status/<str:token>"' in text


@override_settings(REFDESK_METRICS_TOKEN=TOKEN)
def test_business_figures_are_read_from_the_database(client):
    referral = submit("trial-prescreening", trial(1))
    submit("trial-prescreening", trial(1))  # the same lead again: a duplicate
    Referral.objects.filter(pk=referral.pk).update(
        first_response_due_at=timezone.now() - timedelta(hours=1)
    )
    Message.objects.create(
        referral=referral,
        template_key="k",
        purpose="first_contact",
        audience="lead",
        channel="email",
        status="failed",
        idempotency_key="metrics-test-1",
        requested_by="system:test",
        failed_at=timezone.now(),
    )
    found = scrape(client)
    program = referral.program.slug
    method = referral.submission_method
    assert found[("refdesk_metrics_database_up", ())] == 1
    assert found[("refdesk_tasks_ready", ())] == 0
    assert found[("refdesk_tasks_oldest_ready_age_seconds", ())] == 0
    assert found[("refdesk_sla_breaches_open", (("program", program),))] == 1
    intake = "refdesk_intake_referrals_last_hour"
    labels = (("door", method), ("outcome", "accepted"), ("program", program))
    assert found[(intake, labels)] == 1
    labels = (("door", method), ("outcome", "duplicate"), ("program", program))
    assert found[(intake, labels)] == 1
    failed = ("refdesk_messages_failed_last_hour", (("channel", "email"), ("status", "failed")))
    assert found[failed] == 1


@override_settings(REFDESK_METRICS_TOKEN=TOKEN)
def test_rejected_submissions_are_counted_by_door_and_error_code(client):
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    client.post(f"/r/{referrer.code}", {"request_type": "trial_prescreen"})
    found = scrape(client)
    rejected = {
        labels: value
        for (name, labels), value in found.items()
        if name == "refdesk_intake_rejection_errors_last_hour"
    }
    assert rejected
    assert all(dict(labels)["door"] == "web" for labels in rejected)
    assert all(dict(labels)["program"] == "trial-prescreening" for labels in rejected)


def test_request_latency_adds_up_across_processes(tmp_path, monkeypatch):
    """Two processes (as granian's workers) record requests; a scrape in a third counts both.

    As under ``refdesk serve``, prometheus-client is imported before the directory is set (the
    server's system checks load the URLconf before it sets the directory and forks)."""
    script = (
        "import os\n"
        "from refdesk.core.metrics import observe_request\n"
        f"os.environ['{MULTIPROC_ENV}'] = {str(tmp_path)!r}\n"
        "observe_request('r/<str:code>', 'POST', 201, 0.02)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != MULTIPROC_ENV}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    found = samples(generate_latest(scrape_registry()).decode())
    key = (
        "refdesk_http_request_duration_seconds_count",
        (("method", "POST"), ("route", "r/<str:code>"), ("status", "2xx")),
    )
    assert found[key] == 2
