"""Missing-item statistics: what each source's referrals lacked at submission, per field."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from refdesk.core.errors import ValidationFailed
from refdesk.intake.missing import missing_item_counts, missing_items_resolve
from refdesk.intake.models import MissingItem
from refdesk.testing import make_referrer, trial_submission
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def referrers():
    return (
        make_referrer("trial-prescreening", "study-coordinator"),
        make_referrer("trial-prescreening", "site-investigator"),
    )


def submit(referrer, n: int, **overrides):
    # Distinct leads, so none is a duplicate of another.
    lead = {"email": f"lead{n}@example.org", "phone": f"(617) 555-{n:04d}"}
    lead.update(overrides.pop("lead", {}))
    if "timezone" in lead and lead["timezone"] is None:
        # No phone number either, or the zone would be worked out from its area code.
        lead.update(phone=None, preferred_contact="email")
    submission = trial_submission(lead=lead, **overrides)
    return referral_submit(referrer=referrer, submission=submission, method="web", actor=referrer)


@time_machine.travel(START, tick=False)
def test_counts_per_source_and_field_after_incomplete_referrals(referrers):
    coordinator, investigator = referrers
    submit(coordinator, 1, answers={"study_id": None})
    submit(coordinator, 2, answers={"study_id": None}, lead={"timezone": None})
    submit(coordinator, 3)  # complete: records nothing
    submit(investigator, 4, lead={"preferred_contact": None})
    assert missing_item_counts(program="trial-prescreening") == [
        ("site-investigator", "lead.preferred_contact", 1),
        ("study-coordinator", "answers.study_id", 2),
        ("study-coordinator", "lead.timezone", 1),
    ]
    # Across programs the source is named with its program.
    assert ("trial-prescreening/study-coordinator", "answers.study_id", 2) in missing_item_counts()


def test_the_rows_match_the_referral_and_hold_no_values(referrers):
    coordinator, _ = referrers
    referral = submit(coordinator, 1, answers={"study_id": None}).referral
    item = MissingItem.objects.get()
    assert (item.referral, item.program, item.source) == (
        referral,
        referral.program,
        referral.source,
    )
    assert (item.field, item.recorded_at, item.resolved_at) == (
        "answers.study_id",
        referral.received_at,
        None,
    )


def test_a_rejected_submission_records_nothing(referrers):
    coordinator, _ = referrers
    with pytest.raises(ValidationFailed):
        submit(coordinator, 1, answers={"study_id": None}, lead={"email": "nope"})
    assert not MissingItem.objects.exists()


def test_since_limits_the_counts_to_recent_submissions(referrers):
    coordinator, _ = referrers
    with time_machine.travel(START, tick=False):
        submit(coordinator, 1, answers={"study_id": None})
    with time_machine.travel(START + timedelta(days=10), tick=False):
        submit(coordinator, 2, lead={"timezone": None})
    recent = missing_item_counts(program="trial-prescreening", since=START + timedelta(days=1))
    assert recent == [("study-coordinator", "lead.timezone", 1)]


def test_program_filter_accepts_the_model_and_excludes_other_programs(referrers):
    coordinator, _ = referrers
    submit(coordinator, 1, answers={"study_id": None})
    assert missing_item_counts(program=coordinator.source.program) == [
        ("study-coordinator", "answers.study_id", 1)
    ]
    assert missing_item_counts(program="patient-support") == []


def test_resolving_stamps_only_the_supplied_items_and_counts_stay(referrers):
    coordinator, _ = referrers
    referral = submit(coordinator, 1, answers={"study_id": None}, lead={"timezone": None}).referral
    with time_machine.travel(START, tick=False):
        resolved = missing_items_resolve(referral=referral, fields=["answers.study_id"])
    assert resolved == 1
    stamps = dict(MissingItem.objects.values_list("field", "resolved_at"))
    assert stamps == {"answers.study_id": START, "lead.timezone": None}
    # Resolving again changes nothing; the report still counts what was missing at submission.
    assert missing_items_resolve(referral=referral, fields=["answers.study_id"]) == 0
    assert len(missing_item_counts(program="trial-prescreening")) == 2


def test_counting_takes_one_query(referrers, django_assert_num_queries):
    coordinator, investigator = referrers
    for n in range(3):
        submit(coordinator, n, answers={"study_id": None})
        submit(investigator, 10 + n, lead={"timezone": None})
    with django_assert_num_queries(1):
        assert len(missing_item_counts(program="trial-prescreening")) == 2
