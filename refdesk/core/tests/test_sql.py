"""refdesk.core.sql writes and reads exactly what the ORM would, with SQL built once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import signals
from django.test.utils import CaptureQueriesContext

from refdesk.accounts.models import Team
from refdesk.api.models import IdempotencyRecord
from refdesk.audit.models import AuditEvent
from refdesk.consent.models import ConsentRecord
from refdesk.core import sql
from refdesk.intake.models import Referral
from refdesk.referrers.models import PartnerKey
from refdesk.referrers.services import partner_key_create
from refdesk.routing.models import Queue, RoutingDecision
from refdesk.testing import make_referrer, trial_submission
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db

# Written through refdesk.core.sql, which sends no model signals.
WRITTEN_BY_SQL = (Referral, ConsentRecord, RoutingDecision, IdempotencyRecord, AuditEvent)


@pytest.mark.parametrize("model", WRITTEN_BY_SQL, ids=lambda m: m.__name__)
def test_no_model_signal_receivers_exist_for_models_written_by_sql(model):
    for signal in (signals.pre_save, signals.post_save):
        assert not signal.has_listeners(model), f"{model.__name__} has a {signal} receiver"


def test_insert_stores_what_save_would_and_sets_the_primary_key():
    team = sql.insert(Team(slug="t-one", name="Team One", timezone="Europe/Paris"))
    assert team.pk is not None and not team._state.adding
    stored = Team.objects.get(pk=team.pk)
    assert (stored.slug, stored.name, stored.timezone) == ("t-one", "Team One", "Europe/Paris")
    assert stored.public_id == team.public_id
    # auto_now_add / auto_now ran on the instance, and were stored
    assert stored.created_at == team.created_at and stored.updated_at == team.updated_at
    assert team.created_at is not None


def test_insert_encrypts_and_the_orm_reads_it_back():
    referral = referral_submit(
        referrer=make_referrer("trial-prescreening", "study-coordinator"),
        submission=trial_submission(),
        method="web",
        actor="system:test",
    ).referral
    with connection.cursor() as cursor:
        cursor.execute("SELECT lead FROM intake_referral WHERE id = %s", [referral.pk])
        raw = cursor.fetchone()[0]
    assert "Avery" not in raw  # ciphertext in the column
    assert Referral.objects.get(pk=referral.pk).lead["given_name"] == "Avery"


def test_insert_many_sets_primary_keys_in_order():
    teams = [Team(slug=f"t-{n}", name=f"Team {n}") for n in range(3)]
    sql.insert_many(teams)
    assert [t.pk for t in teams] == [Team.objects.get(slug=f"t-{n}").pk for n in range(3)]


def test_update_tests_equality_and_null_and_reports_rows_changed():
    team = sql.insert(Team(slug="t-up", name="Before"))
    queue = sql.insert(Queue(slug="q-up", name="Q", team=team))
    assert sql.update(queue, {"name": "After"}, where={"slug": "other"}) == 0
    assert Queue.objects.get(pk=queue.pk).name == "Q"
    assert sql.update(queue, {"name": "After"}, where={"slug": "q-up", "team": team}) == 1
    assert Queue.objects.get(pk=queue.pk).name == "After"
    # None in where means IS NULL; description is "" here, so it does not match
    assert sql.update(queue, {"name": "Never"}, where={"description": None}) == 0
    other = sql.insert(Team(slug="t-other", name="Other"))
    assert sql.update(queue, {"team": other}) == 1
    assert Queue.objects.get(pk=queue.pk).team_id == other.pk


def test_select_converts_values_like_a_queryset():
    team = sql.insert(Team(slug="t-sel", name="Sel"))
    [loaded] = sql.select(Team, "slug = %s", ["t-sel"])
    expected = Team.objects.get(pk=team.pk)
    assert loaded.pk == expected.pk and loaded.public_id == expected.public_id
    assert loaded.created_at == expected.created_at
    assert loaded.created_at.tzinfo is not None  # SQLite's text became an aware datetime
    assert sql.select(Team, "slug = %s", ["missing"]) == []


def test_select_related_loads_the_chain_in_one_statement():
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    record, _key = partner_key_create(referrer=referrer, actor="system:test")
    with CaptureQueriesContext(connection) as queries:
        [key] = sql.select_related(
            PartnerKey, ("referrer", "source", "program"), "t0.id = %s", [record.pk]
        )
        program = key.referrer.source.program
    assert len(queries.captured_queries) == 1
    assert key.key_hash == record.key_hash and key.revoked_at is None
    assert (key.referrer.code, key.referrer.source.slug) == (referrer.code, "study-coordinator")
    assert program.slug == "trial-prescreening"


def test_select_related_refuses_an_optional_foreign_key():
    with pytest.raises(TypeError, match="only required foreign keys"):
        sql.select_related(Referral, ("queue",), "t0.id = %s", [1])


def test_loaded_builds_a_partial_instance_with_the_rest_deferred():
    team = sql.loaded(Team, id=7, slug="t-7")
    assert (team.pk, team.slug) == (7, "t-7")
    assert team.get_deferred_fields() >= {"name", "timezone"}
    with pytest.raises(TypeError, match="unknown columns"):
        sql.loaded(Team, nonsense=1)


def test_audit_events_written_in_one_statement_keep_their_ids_and_chain():
    from refdesk.audit.services import audit_batch, audit_record, audit_verify

    with audit_batch():
        events = [
            audit_record(actor="system:test", action="thing.done", subject=("thing", str(n)))
            for n in range(3)
        ]
    stored = list(AuditEvent.objects.filter(action="thing.done").order_by("seq"))
    assert [e.pk for e in events] == [e.pk for e in stored]
    assert stored[0].occurred_at.tzinfo is not None
    assert stored[0].occurred_at <= datetime.now(UTC)
    assert audit_verify().ok
