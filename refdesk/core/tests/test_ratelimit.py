"""Rate limits: exact fixed-window counters in the database (refdesk.core.ratelimit)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction

from refdesk.api.auth import RATE_DEFAULT, RATE_SCOPE
from refdesk.core import ratelimit
from refdesk.core.models import RateCounter
from refdesk.core.ratelimit import (
    Limit,
    RateLimited,
    limit_from_settings,
    rate_counters_prune,
    rate_limit_clear,
    rate_limit_hit,
)
from refdesk.core.tests.test_settings import GOOD, _start
from refdesk.portal import hooks, views, views_booking, views_recipient
from refdesk.settings.rate_limits import SCOPES, rate_limits_parse
from refdesk.testing import make_partner, referrer_for, valid_body
from refdesk.workflow.sweep import housekeeping

RULE = Limit(scope="intake.address", limit=3, window=60)
# 12:00:30 UTC: 30 seconds into a one-minute window.
MID_WINDOW = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
def committed_db(transactional_db):
    """A transactional test: what it writes is committed, so other connections see it."""


@pytest.mark.django_db
def test_the_limit_lets_exactly_limit_hits_through_then_says_when_to_retry():
    with time_machine.travel(MID_WINDOW, tick=False):
        counts = [rate_limit_hit(rule=RULE, key="203.0.113.9").count for _ in range(3)]
        with pytest.raises(RateLimited) as refused:
            rate_limit_hit(rule=RULE, key="203.0.113.9")
    assert counts == [1, 2, 3]
    assert refused.value.retry_after == 30
    rate_limit_hit(rule=RULE, key="203.0.113.10")  # another key has its own count
    assert rate_limit_hit(rule=Limit("intake.code", 3, 60), key="203.0.113.9").count == 1


@pytest.mark.django_db
def test_a_new_window_starts_a_new_count():
    with time_machine.travel(MID_WINDOW, tick=False) as clock:
        for _ in range(3):
            rate_limit_hit(rule=RULE, key="k")
        with pytest.raises(RateLimited):
            rate_limit_hit(rule=RULE, key="k")
        clock.shift(timedelta(seconds=29))  # 12:00:59, still the same window
        with pytest.raises(RateLimited):
            rate_limit_hit(rule=RULE, key="k")
        clock.shift(timedelta(seconds=1))  # 12:01:00
        assert rate_limit_hit(rule=RULE, key="k").count == 1


@pytest.mark.django_db
def test_keys_are_stored_only_as_keyed_hashes():
    rate_limit_hit(rule=RULE, key="198.51.100.77")
    (row,) = RateCounter.objects.values_list("scope", "key_digest", "hits")
    assert row[0] == "intake.address" and row[2] == 1
    assert "198.51.100.77" not in row[1] and len(row[1]) == 32


@pytest.mark.django_db
def test_a_hit_can_be_taken_back_and_a_key_cleared():
    with time_machine.travel(MID_WINDOW, tick=False):
        hit = rate_limit_hit(rule=RULE, key="k")
        rate_limit_hit(rule=RULE, key="k")
        hit.undo()
        assert rate_limit_hit(rule=RULE, key="k").count == 2
        rate_limit_clear(rule=RULE, key="k")
        assert rate_limit_hit(rule=RULE, key="k").count == 1


@pytest.fixture
def counted_in_a_transaction(monkeypatch):
    """For each counter statement: was a transaction other than the test's own open?"""
    seen: list[bool] = []
    original = ratelimit._write

    def spy(sql, params):
        seen.append(any(not block._from_testcase for block in connection.atomic_blocks))
        return original(sql, params)

    monkeypatch.setattr(ratelimit, "_write", spy)
    return seen


@pytest.mark.django_db
def test_every_caller_counts_outside_any_transaction(client, counted_in_a_transaction):
    """A hit inside the request's transaction would be un-counted by its rollback."""
    referrer = referrer_for("trial-prescreening")
    client.post(f"/r/{referrer.code}", {})  # an invalid submission
    client.post("/r/NOSUCHX")
    partner = make_partner("trial-prescreening")
    client.post(
        "/api/v1/referrals",
        data=valid_body("trial-prescreening"),
        content_type="application/json",
        **partner.auth,
    )
    client.post("/hooks/email/events", data="{}", content_type="application/json")
    client.post("/accounts/login/", {"login": "nobody", "password": "wrong"})
    assert len(counted_in_a_transaction) >= 6
    assert not any(counted_in_a_transaction)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="transactional tests run on PostgreSQL (SQLite's flush meets the audit triggers)",
)
def test_a_hit_stays_counted_when_the_request_fails_afterwards(committed_db):
    rate_limit_hit(rule=RULE, key="k")
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        RateCounter.objects.update(hits=0)  # work of the request, then it fails
        1 / 0  # noqa: B018
    assert RateCounter.objects.get().hits == 1


@pytest.mark.django_db
def test_housekeeping_prunes_the_windows_that_have_ended():
    with time_machine.travel(MID_WINDOW, tick=False) as clock:
        rate_limit_hit(rule=RULE, key="old")
        rate_limit_hit(rule=Limit("login.name", 5, 900), key="still open")
        clock.shift(timedelta(minutes=1))
        rate_limit_hit(rule=RULE, key="new")
        assert rate_counters_prune() == 1
        clock.shift(timedelta(minutes=20))
        assert housekeeping()["rate_counters_pruned"] == 2
    assert not RateCounter.objects.exists()


def test_limits_are_parsed_from_the_environment():
    assert rate_limits_parse(None) == {}
    assert rate_limits_parse(" intake.address=30/60 , api.partner_key = 600/60,") == {
        "intake.address": (30, 60),
        "api.partner_key": (600, 60),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("intake.adress=30/60", "'intake.adress=30/60' names an unknown scope; known scopes: "),
        ("intake.address=30", "'intake.address=30' is not scope=hits/seconds"),
        ("intake.address:30/60", "'intake.address:30/60' is not scope=hits/seconds"),
        ("intake.address=-1/60", "'intake.address=-1/60' is not scope=hits/seconds"),
        ("intake.address=thirty/60", "is not scope=hits/seconds"),
        ("intake.address=0/60", "'intake.address=0/60' needs at least 1 hit"),
        ("intake.address=5/0", "'intake.address=5/0' needs at least 1 hit per at least 1 second"),
        ("intake.code=1/1,intake.code=2/2", "'intake.code' is given twice"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_variable_and_the_entry(value, message):
    with pytest.raises(ImproperlyConfigured, match="^REFDESK_RATE_LIMITS: ") as refused:
        rate_limits_parse(value)
    assert message in str(refused.value)


def test_a_bad_value_stops_start_up(tmp_path):
    result = _start({**GOOD, "REFDESK_RATE_LIMITS": "intake.adress=30/60"}, tmp_path)
    assert result.returncode != 0
    assert "REFDESK_RATE_LIMITS: 'intake.adress=30/60' names an unknown scope" in result.stderr


def test_a_limit_from_the_settings_overrides_the_default(settings):
    settings.REFDESK_RATE_LIMITS = {"intake.code": (7, 30)}
    assert limit_from_settings("intake.code", (60, 60)) == Limit("intake.code", 7, 30)
    assert limit_from_settings("intake.address", (20, 60)) == Limit("intake.address", 20, 60)


def test_every_callers_default_is_the_one_listed_with_its_scope():
    used = {
        "intake.address": views.ADDRESS_LIMIT,
        "intake.code": views.CODE_LIMIT,
        RATE_SCOPE: RATE_DEFAULT,
        "recipient.address": views_booking.POST_LIMIT,
        "hooks.refused": hooks.REFUSED_LIMIT,
    }
    assert used["recipient.address"] == views_recipient.UNSUBSCRIBE_LIMIT
    for scope, default in used.items():
        assert SCOPES[scope].default == default, scope


def test_the_docs_list_every_scope_with_its_default():
    text = (Path(__file__).resolve().parents[3] / "docs" / "rate-limits.md").read_text()
    for scope, entry in SCOPES.items():
        hits, seconds = entry.default
        assert f"| `{scope}` | {hits}/{seconds} |" in text, scope
