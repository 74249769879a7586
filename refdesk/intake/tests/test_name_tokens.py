"""The name-search index (``intake.NameToken``): written with the referral in one transaction,
replaced when the lead's name is supplied later, rebuilt by ``refdesk names reindex`` and,
once, by the migration for referrals received before it existed."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import transaction

from refdesk.access.selectors import referral_name_matches
from refdesk.audit.models import AuditEvent
from refdesk.core.crypto import name_query_words
from refdesk.intake.models import NameToken, Referral
from refdesk.intake.name_tokens import lead_name_digests
from refdesk.testing import agent, coordinator, referrer_for, submit, support, trial_submission
from refdesk.workflow import submission as submission_module
from refdesk.workflow.submission import referral_complete, referral_submit

pytestmark = pytest.mark.django_db
MIGRATION = "refdesk.intake.migrations.0009_index_names_of_earlier_referrals"


def search(user, query):
    words, _ = name_query_words(query)
    return referral_name_matches(user=user, words=words, limit=25)


def stored_digests(referral) -> set[bytes]:
    return {
        bytes(d)
        for d in NameToken.objects.filter(referral=referral).values_list("digest", flat=True)
    }


def test_a_submitted_referral_is_indexed_under_every_prefix_of_its_names():
    referral = submit("patient-support", support(1))
    assert stored_digests(referral) == lead_name_digests(
        {"given_name": "Alex", "family_name": "Moreno"}
    )
    # alex: ale, alex; moreno: mor, more, moren, moreno
    assert NameToken.objects.filter(referral=referral).count() == 6
    assert set(NameToken.objects.values_list("received_at", flat=True)) == {referral.received_at}


def test_a_submission_that_fails_after_the_insert_leaves_no_tokens(monkeypatch):
    def broken_route(**kwargs):
        raise RuntimeError("routing failed")

    monkeypatch.setattr(submission_module, "referral_route", broken_route)
    referrer_for("patient-support")
    # The test's own savepoint stands for the request's transaction.
    with pytest.raises(RuntimeError), transaction.atomic():
        submit("patient-support", support(1))
    assert not Referral.objects.exists()
    assert not NameToken.objects.exists()


def test_a_name_supplied_through_the_completion_link_becomes_searchable():
    referrer = referrer_for("trial-prescreening")
    submission = trial_submission(lead={"given_name": None})
    referral = referral_submit(
        referrer=referrer, submission=submission, method="api", actor=referrer
    ).referral
    assert "lead.given_name" in referral.missing
    assert stored_digests(referral) == lead_name_digests({"family_name": "Quill"})
    referral_complete(
        referral=referral,
        lead_updates={"given_name": "Évariste"},
        answer_updates={},
        actor=referrer,
    )
    # Complete now, routed to clinical operations: its coordinator finds it by the new name.
    assert search(coordinator(), "evar quil") == [referral]
    assert stored_digests(referral) == lead_name_digests(
        {"given_name": "Évariste", "family_name": "Quill"}
    )


def test_reindex_rebuilds_the_tokens_and_audits_each_batch():
    first = submit("patient-support", support(1))
    second = submit("patient-support", support(2))
    expected = {first.pk: stored_digests(first), second.pk: stored_digests(second)}
    NameToken.objects.all().delete()
    NameToken.objects.create(referral=first, digest=b"\0" * 16, received_at=first.received_at)
    out = StringIO()
    call_command("names", "reindex", "--as", "ops", "--batch-size", "1", stdout=out)
    assert "2 referral(s) indexed" in out.getvalue()
    assert {first.pk: stored_digests(first), second.pk: stored_digests(second)} == expected
    events = AuditEvent.objects.filter(action="names.reindexed")
    assert events.count() == 2 and {e.actor for e in events} == {"cli:ops"}
    assert search(agent(), "alex mor") == [second, first]


def test_after_the_index_key_changes_names_are_found_again_once_reindexed(settings):
    referral = submit("patient-support", support(1))
    user = agent()
    settings.BLIND_INDEX_KEY = "a-new-index-key-" + "k" * 40
    assert search(user, "moreno") == []  # every digest changed with the key
    call_command("names", "reindex", stdout=StringIO())
    assert search(user, "moreno") == [referral]


def test_the_migration_computes_the_same_digests_as_the_app():
    """Migrations do not import app code: its copy of the normalisation must agree."""
    migration = importlib.import_module(MIGRATION)
    for lead in (
        {"given_name": "José", "family_name": "O'Brien-Núñez"},
        {"organization": "Clínica São João", "name": "Dr Zoë Li"},
        {"given_name": "A" * 40, "email": "not@a.name"},
        {},
    ):
        assert migration.lead_name_digests(lead) == lead_name_digests(lead)


def test_the_migration_indexes_a_referral_received_before_it():
    referral = submit("patient-support", support(1))
    expected = stored_digests(referral)
    NameToken.objects.all().delete()
    importlib.import_module(MIGRATION).index(apps, None)
    assert stored_digests(referral) == expected
