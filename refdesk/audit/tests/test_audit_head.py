"""The chain head is signed with the audit key, so the end of the chain cannot be cut off quietly.

Deleting the newest events and pointing the head row at the new last event takes only database
access; signing that head takes the audit key.

Each test starts with whatever the trail already holds (``baseline``, see conftest.py); the tail
it cuts is the tail of the whole chain, which holds only events the test recorded itself.
"""

import importlib
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from refdesk.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from refdesk.audit.services import VerifyResult, audit_batch, audit_verify, head_mac
from refdesk.audit.tests.tampering import (
    cut_tail,
    event_hash,
    read_head,
    record_events,
    rewrite_head,
)
from refdesk.cli import main

pytestmark = pytest.mark.django_db

NOT_AUTHENTICATED = "chain head is not authenticated by the audit key: rewritten?"


def _assert_head_signed_and_names_last_event():
    seq, hash_, mac = read_head()
    last = AuditEvent.objects.order_by("-seq").first()
    assert (seq, hash_) == (last.seq, last.hash)
    assert mac == head_mac(seq, hash_)


class TestCuttingTheTail:
    def test_deleting_the_newest_events_and_rewriting_the_head_without_the_key_is_caught(
        self, baseline
    ):
        events = record_events(5)
        third = events[2].seq
        cut_tail(keep=third)
        rewrite_head(third, event_hash(third))  # names the last event; the MAC is stale

        result = audit_verify()

        assert not result.ok
        assert result.problem == NOT_AUTHENTICATED
        assert (result.checked, result.bad_seq) == (baseline.count + 3, third + 1)

    def test_a_head_signed_with_another_key_is_caught(self):
        events = record_events(5)
        third = events[2].seq
        cut_tail(keep=third)
        with override_settings(AUDIT_HMAC_KEY="a-key-that-is-not-this-installations-" + "k" * 16):
            forged_mac = head_mac(third, event_hash(third))
        rewrite_head(third, event_hash(third), forged_mac)

        result = audit_verify()

        assert (result.ok, result.problem) == (False, NOT_AUTHENTICATED)

    def test_a_signed_head_that_names_a_deleted_event_is_caught(self):
        events = record_events(5)
        cut_tail(keep=events[2].seq)  # the head row still names (and correctly signs) the fifth

        result = audit_verify()

        assert not result.ok
        assert (
            f"names event #{events[4].seq} but the last event is #{events[2].seq}"
        ) in result.problem

    def test_an_older_signed_head_put_back_over_a_longer_chain_is_caught(self):
        older = record_events(3)
        saved_head = read_head()
        newer = record_events(2)
        rewrite_head(*saved_head)

        result = audit_verify()

        assert not result.ok
        assert (
            f"names event #{older[-1].seq} but the chain goes on to #{newer[-1].seq}"
        ) in result.problem

    def test_deleting_the_head_row_with_the_tail_is_caught(self, baseline):
        events = record_events(3)
        cut_tail(keep=events[0].seq)
        AuditChainHead.objects.all().delete()

        result = audit_verify()

        assert not result.ok
        assert result.problem == (
            f"the chain head is missing but the chain holds {baseline.count + 1} event(s) "
            "(deleted?)"
        )

    def test_the_command_says_the_head_is_not_authenticated_and_exits_1(self, capsys):
        events = record_events(4)
        second = events[1].seq
        cut_tail(keep=second)
        rewrite_head(second, event_hash(second))

        with pytest.raises(SystemExit) as exit_info:
            main(["refdesk", "audit", "verify"])

        assert exit_info.value.code == 1
        assert NOT_AUTHENTICATED in capsys.readouterr().err


class TestAppending:
    def test_every_append_keeps_the_head_signed_single_events_and_batches_alike(self, baseline):
        for round_ in range(5):
            record_events(3)
            _assert_head_signed_and_names_last_event()
            with transaction.atomic(), audit_batch():
                record_events(round_ + 1)
            _assert_head_signed_and_names_last_event()
        result = audit_verify()
        assert (result.ok, result.checked) == (True, baseline.count + 5 * 3 + 15)

    def test_the_signature_is_written_by_the_one_update_that_moves_the_head(self):
        record_events(1)  # the head row exists from here on
        with CaptureQueriesContext(connection) as queries:
            record_events(1)
        statements = [q["sql"] for q in queries.captured_queries]
        assert len(statements) == 3, statements  # read the head, insert the event, move the head
        assert statements[2].startswith("UPDATE audit_auditchainhead SET seq")
        assert "mac" in statements[2]
        _assert_head_signed_and_names_last_event()

    def test_the_first_event_creates_a_signed_head(self, empty_trail):
        # A new installation or a flushed database: no event, no head row.
        assert audit_verify() == VerifyResult(checked=0)  # nothing recorded: nothing to check

        [event] = record_events(1)

        assert (event.seq, event.prev_hash) == (1, GENESIS_HASH)
        _assert_head_signed_and_names_last_event()
        assert audit_verify() == VerifyResult(checked=1)


class TestMigration:
    """Migration 0004 signs the head of an installation that recorded events before it."""

    migration = importlib.import_module("refdesk.audit.migrations.0004_sign_chain_head")

    def _run(self, function):
        from django.apps import apps

        function(apps, SimpleNamespace(connection=connection))

    def test_it_signs_an_existing_head_as_the_services_do(self):
        record_events(3)
        AuditChainHead.objects.update(mac="")  # as migration 0003 leaves it
        assert audit_verify().problem == NOT_AUTHENTICATED

        self._run(self.migration.sign_head)

        _assert_head_signed_and_names_last_event()
        assert audit_verify().ok

    def test_its_copy_of_the_signature_matches_the_services(self):
        assert self.migration.HEAD_DOMAIN == "refdesk.audit.head"
        for seq, hash_ in [(0, GENESIS_HASH), (1, "a" * 64), (123456789, "0123abcd" * 8)]:
            assert self.migration._head_mac(seq, hash_) == head_mac(seq, hash_)

    def test_it_is_reversible(self):
        record_events(2)
        self._run(self.migration.unsign_head)
        assert read_head()[2] == ""
        self._run(self.migration.sign_head)
        assert audit_verify().ok

    def test_without_a_head_row_it_does_nothing(self, empty_trail):
        # No event recorded before the upgrade, so no head row either.
        self._run(self.migration.sign_head)
        assert not AuditChainHead.objects.exists()
