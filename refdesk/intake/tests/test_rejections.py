"""``rejections_record``: one statistics row per error of a refused submission, names of fields
and codes only, and never an exception into the caller's path."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.db import DatabaseError, connection, transaction

from refdesk.intake.models import Rejection
from refdesk.intake.rejections import rejections_record
from refdesk.testing import make_referrer

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def coordinator(db):
    return make_referrer("trial-prescreening", "study-coordinator")


def rows():
    return sorted(
        Rejection.objects.values_list(
            "program__slug", "source__slug", "method", "field", "code", "occurred_at"
        )
    )


def test_each_error_is_one_row_with_the_referrers_program_and_source(coordinator):
    recorded = rejections_record(
        referrer=coordinator,
        method="web",
        errors=[
            ("lead.phone", "invalid_phone"),
            ("lead.email", "invalid_email"),
            ("lead.phone", "invalid_phone"),  # the same error twice is one row
            (None, "consent_required"),  # about the whole submission
        ],
        at=AT,
    )
    assert recorded == 3
    program, source = "trial-prescreening", "study-coordinator"
    assert rows() == [
        (program, source, "web", "", "consent_required", AT),
        (program, source, "web", "lead.email", "invalid_email", AT),
        (program, source, "web", "lead.phone", "invalid_phone", AT),
    ]


def test_no_errors_record_nothing(coordinator):
    assert rejections_record(referrer=coordinator, method="api", errors=[]) == 0
    assert Rejection.objects.count() == 0


def test_names_the_submitter_made_up_are_stored_as_a_star(coordinator):
    # The trial program asks "ecog" but no "favourite_colour"; an unknown lead field or answer
    # is named by the submitter, so it could be anything (a name, a phone number).
    rejections_record(
        referrer=coordinator,
        method="api",
        errors=[
            ("lead.Avery Quill", "unknown_field"),
            ("answers.favourite_colour", "unknown_answer"),
            ("answers.6175550142", "wrong_type"),  # pydantic checks types before names
            ("answers.ecog", "wrong_type"),
            ("Avery", "unknown_field"),
        ],
        at=AT,
    )
    assert sorted(Rejection.objects.values_list("field", "code")) == [
        ("*", "unknown_field"),
        ("answers.*", "unknown_answer"),
        ("answers.*", "wrong_type"),
        ("answers.ecog", "wrong_type"),
        ("lead.*", "unknown_field"),
    ]


def test_a_failure_to_record_is_logged_without_data_and_swallowed(coordinator, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise DatabaseError("value '+16175550142' is broken")

    monkeypatch.setattr(Rejection.objects, "bulk_create", broken)
    with caplog.at_level(logging.ERROR, logger="refdesk.intake.rejections"):
        assert (
            rejections_record(
                referrer=coordinator, method="bulk", errors=[("lead.phone", "invalid_phone")]
            )
            == 0
        )
    assert [record.getMessage() for record in caplog.records] == [
        f"rejection statistics not recorded (bulk submission, referrer {coordinator.pk}): "
        "DatabaseError"
    ]


def test_a_database_error_leaves_the_callers_transaction_usable(coordinator, monkeypatch):
    # On PostgreSQL a failed statement aborts the whole transaction unless it ran in a
    # savepoint: the caller (and the test's own transaction) must be able to go on.
    def failing_statement(objs, *args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    monkeypatch.setattr(Rejection.objects, "bulk_create", failing_statement)
    with transaction.atomic():
        assert rejections_record(referrer=coordinator, method="api", errors=[("", "x")]) == 0
        assert Rejection.objects.count() == 0  # the transaction still answers


def test_an_overlong_code_is_cut_and_an_unknown_method_is_refused_quietly(coordinator):
    assert rejections_record(referrer=coordinator, method="fax", errors=[("x", "y")]) == 0
    assert rejections_record(referrer=coordinator, method="api", errors=[("", "c" * 80)]) == 1
    assert list(Rejection.objects.values_list("code", flat=True)) == ["c" * 63]
