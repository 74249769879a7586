"""Referrer reports: counts only, within the agreement's sharing limits, with the anti-kickback
statement; and nothing in refdesk can record a reward for referring."""

from __future__ import annotations

import datetime as dt
import zipfile

import pytest
from django.apps import apps
from django.core.management import call_command

from refdesk.core.errors import NotFound
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.models import Referral
from refdesk.reports.referrers import ANTI_KICKBACK, referrer_report, sharing_level
from refdesk.testing import education, make_referrer, support
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db

JAN = (dt.date(2027, 1, 1), dt.date(2027, 1, 31))


def _sent(referrer, submissions, method="web"):
    made = []
    for n, submission in enumerate(submissions):
        at = dt.datetime(2027, 1, 4 + n, 15, 0, tzinfo=dt.UTC)
        made.append(
            referral_submit(
                referrer=referrer,
                submission=submission,
                method=method,
                actor=referrer,
                received_at=at,
            ).referral
        )
    return made


def test_a_partner_whose_agreement_shares_counts_only_gets_no_outcomes():
    partner = make_referrer("provider-education", "event-partner", "Summit")
    assert sharing_level(partner) == "received"
    _sent(partner, [education(300 + n) for n in range(6)])
    report = referrer_report(code=partner.code, start=JAN[0], end=JAN[1])
    assert [t.key for t in report.tables()] == ["referrals_sent"]
    [row] = report.table("referrals_sent").rows
    assert (row["month"], row["total"]) == ("2027-01", 6)
    assert report.sections[-1].intro == ANTI_KICKBACK
    assert "no outcomes" in report.sections[0].intro


def test_a_partner_that_may_see_outcomes_gets_counts_by_outcome():
    partner = make_referrer("patient-support", "patient-org", "Alliance")
    assert sharing_level(partner) == "outcomes"
    made = _sent(partner, [support(320 + n) for n in range(3)])
    Referral.objects.filter(pk=made[0].pk).update(
        stage=Stage.CLOSED, outcome=Outcome.DECLINED, outcome_reason="lead_declined",
        closed_at=made[0].received_at,
    )  # fmt: skip
    report = referrer_report(code=partner.code, start=JAN[0], end=JAN[1])
    [row] = report.table("outcomes").rows
    assert (row["total"], row["declined"], row["open"]) == (3, 1, 2)


def test_another_referrers_work_is_never_counted():
    mine = make_referrer("patient-support", "patient-org", "Mine")
    _sent(mine, [support(330)])
    other = make_referrer("patient-support", "patient-org", "Other")
    _sent(other, [support(331), support(332)])
    report = referrer_report(code=mine.code, start=JAN[0], end=JAN[1])
    assert report.table("outcomes").rows[0]["total"] == 1


def test_an_unknown_code_is_not_found():
    with pytest.raises(NotFound):
        referrer_report(code="NOPE-0000", start=JAN[0], end=JAN[1])


def test_the_cli_writes_the_report_suppressed_and_audited(tmp_path):
    from refdesk.audit.models import AuditEvent

    partner = make_referrer("patient-support", "patient-org", "Alliance")
    _sent(partner, [support(340 + n) for n in range(2)])
    before = AuditEvent.objects.filter(action="report.exported").count()
    call_command(
        "report", "referrer", "--code", partner.code, "--from", "2027-01", "--out",
        str(tmp_path), "--format", "csv", "--as", "owner",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="report.exported").count() == before + 1
    [written] = tmp_path.iterdir()
    assert written.name == f"referrer-{partner.code}-2027-01-csv.zip"
    with zipfile.ZipFile(written) as archive:
        text = "\n".join(archive.read(name).decode() for name in archive.namelist())
    assert "2027-01" in text
    # Two referrals: below the threshold, so the count itself is hidden.
    assert ",2," not in text and ",2\n" not in text


WORDS = ("reward", "payment", "incentive", "commission", "bonus", "bounty", "fee", "payout")


def test_no_model_can_hold_a_reward_for_referring():
    for model in apps.get_models():
        if not model.__module__.startswith("refdesk."):
            continue
        for field in model._meta.get_fields():
            name = field.name.lower()
            words = set(name.split("_")) | {name}
            assert not words & set(WORDS), f"{model.__name__}.{field.name}"
