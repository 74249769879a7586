"""Business figures for Prometheus, read from the database at scrape time.

Counted by the database, they are exact whichever node is scraped and however many web and
worker processes there are; every query reads an index and a bounded slice (open breaches, the
last hour, ready tasks). Labels are program slugs, submission methods (the door), outcome,
error and status codes and channels: never patient data.

If the database does not answer, the scrape still succeeds with
``refdesk_metrics_database_up 0`` and none of these figures.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from refdesk.core.health import task_queue
from refdesk.intake import choices as intake_choices
from refdesk.intake.models import Referral, Rejection
from refdesk.outreach.models import Message

logger = logging.getLogger(__name__)

WINDOW = timedelta(hours=1)


class BusinessCollector(Collector):
    def collect(self):
        up = GaugeMetricFamily(
            "refdesk_metrics_database_up", "1 when the database answered this scrape's queries."
        )
        try:
            families = list(_families(timezone.now()))
        except DatabaseError as error:
            logger.warning("metrics: database unreachable (%s)", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _families(now):
    queue = task_queue(now)
    depth = GaugeMetricFamily("refdesk_tasks_ready", "Background tasks ready to run, waiting.")
    depth.add_metric([], queue.depth)
    yield depth
    age = GaugeMetricFamily(
        "refdesk_tasks_oldest_ready_age_seconds",
        "Seconds since the oldest ready task was enqueued (0 when none waits).",
    )
    age.add_metric([], queue.oldest_age_seconds or 0.0)
    yield age

    breaches = GaugeMetricFamily(
        "refdesk_sla_breaches_open",
        "Open referrals past their first-response due time without a first response.",
        labels=["program"],
    )
    rows = (
        Referral.objects.filter(
            first_responded_at__isnull=True,
            closed_at__isnull=True,
            first_response_due_at__lt=now,
            stage__in=sorted(intake_choices.SLA_RUNNING_STAGES),
        )
        .values_list("program__slug")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for program, count in rows:
        breaches.add_metric([program], count)
    yield breaches

    since = now - WINDOW
    intake = GaugeMetricFamily(
        "refdesk_intake_referrals_last_hour",
        "Referrals received in the last hour, by program, door and outcome (accepted: a new "
        "lead; duplicate: added to an earlier referral of the same lead).",
        labels=["program", "door", "outcome"],
    )
    rows = (
        Referral.objects.filter(received_at__gte=since)
        .values_list("program__slug", "submission_method")
        .annotate(
            accepted=Count("pk", filter=Q(duplicate_of__isnull=True)),
            duplicate=Count("pk", filter=Q(duplicate_of__isnull=False)),
        )
        .order_by()
    )
    for program, door, accepted, duplicate in rows:
        intake.add_metric([program, door, "accepted"], accepted)
        intake.add_metric([program, door, "duplicate"], duplicate)
    yield intake

    rejected = GaugeMetricFamily(
        "refdesk_intake_rejection_errors_last_hour",
        "Errors of submissions refused for their content in the last hour (one submission "
        "refused for three fields counts three), by program, door and error code.",
        labels=["program", "door", "code"],
    )
    rows = (
        Rejection.objects.filter(occurred_at__gte=since)
        .values_list("program__slug", "method", "code")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for program, door, code, count in rows:
        rejected.add_metric([program, door, code], count)
    yield rejected

    failed = GaugeMetricFamily(
        "refdesk_messages_failed_last_hour",
        "Messages the backend or provider gave up on in the last hour, by channel and status.",
        labels=["channel", "status"],
    )
    rows = (
        Message.objects.filter(failed_at__gte=since)
        .values_list("channel", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for channel, status, count in rows:
        failed.add_metric([channel, status], count)
    yield failed
