"""The audit trail is one tamper-evident chain that only audit_record() writes.

Each test starts with whatever the trail already holds (``baseline``, see conftest.py) and
asserts on the events it adds.
"""

import threading

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from refdesk.audit.models import GENESIS_HASH, AuditEvent
from refdesk.audit.services import VerifyResult, audit_batch, audit_record, audit_verify
from refdesk.audit.tests.tampering import record_events, trail_now, triggers_disabled
from refdesk.cli import main
from refdesk.core.context import reset_request_id, set_request_id

pytestmark = pytest.mark.django_db


class TestRecording:
    def test_events_form_one_chain_from_genesis(self, baseline):
        events = record_events(3)
        assert [e.seq for e in events] == [baseline.seq + 1, baseline.seq + 2, baseline.seq + 3]
        assert events[0].prev_hash == baseline.hash
        assert events[1].prev_hash == events[0].hash
        assert events[2].prev_hash == events[1].hash
        # The chain these extend starts at genesis: event #1 links to GENESIS_HASH.
        first = AuditEvent.objects.order_by("seq").first()
        assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
        assert audit_verify() == VerifyResult(checked=baseline.count + 3)

    def test_it_keeps_actor_action_subject_reason_and_request_id(self):
        token = set_request_id("req-12345678")
        try:
            event = audit_record(
                actor="user:alice",
                action="referral.submitted",
                subject=("referral", "abc"),
                reason="because",
            )
        finally:
            reset_request_id(token)
        assert (event.actor, event.action, event.subject_type, event.subject_id) == (
            "user:alice",
            "referral.submitted",
            "referral",
            "abc",
        )
        assert event.reason == "because"
        assert event.request_id == "req-12345678"

    def test_patient_fields_are_named_but_their_values_never_stored(self):
        event = audit_record(
            actor="system:test",
            action="referral.updated",
            subject=("referral", "x"),
            changes={
                "lead": ({"email": "ann@example.org"}, {"email": "ann.b@example.org"}),
                "stage": ("received", "queued"),
            },
            sensitive_fields={"lead"},
        )
        stored = AuditEvent.objects.get(pk=event.pk)
        assert set(stored.changes) == {"lead", "stage"}
        assert "example.org" not in str(stored.changes)
        assert stored.changes["lead"]["old"].startswith("hmac:")
        assert stored.changes["lead"]["old"] != stored.changes["lead"]["new"]
        assert stored.changes["stage"] == {"old": "received", "new": "queued"}

    def test_an_event_rolls_back_with_the_change_it_records(self, baseline):
        with pytest.raises(RuntimeError), transaction.atomic():
            record_events(1)
            raise RuntimeError("the business change failed")
        assert trail_now() == baseline
        [event] = record_events(1)
        assert (event.seq, event.prev_hash) == (baseline.seq + 1, baseline.hash)
        assert audit_verify().ok

    def test_it_rejects_an_action_without_a_verb(self):
        with pytest.raises(ValueError):
            audit_record(actor="system:test", action="nothing")


class TestAppendOnly:
    def test_the_database_rejects_update(self):
        event = record_events(1)[0]
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(reason="rewritten")
        assert AuditEvent.objects.get(pk=event.pk).reason == ""

    def test_the_database_rejects_delete(self, baseline):
        record_events(2)
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent WHERE seq > %s", [baseline.seq])
        assert AuditEvent.objects.count() == baseline.count + 2


class TestVerify:
    def test_an_intact_chain_verifies_and_the_command_says_how_many(self, baseline, capsys):
        record_events(5)
        call_command("audit", "verify")
        out = capsys.readouterr().out
        assert f"audit chain intact: {baseline.count + 5} event(s) checked" in out

    # The tampering below touches only events the test recorded itself.

    def test_it_catches_an_edited_event(self, baseline):
        events = record_events(4)
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[1].seq).update(reason="nothing to see")
        result = audit_verify()
        assert (result.ok, result.bad_seq, result.checked) == (
            False,
            events[1].seq,
            baseline.count + 1,
        )
        assert "edited" in result.problem

    def test_it_catches_a_deleted_event(self):
        events = record_events(4)
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[2].seq).delete()
        result = audit_verify()
        assert (result.ok, result.bad_seq) == (False, events[3].seq)

    def test_it_catches_a_deleted_last_event(self):
        events = record_events(3)
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[2].seq).delete()
        result = audit_verify()
        assert not result.ok
        assert (
            f"names event #{events[2].seq} but the last event is #{events[1].seq}"
        ) in result.problem

    def test_it_catches_reordered_events(self):
        events = record_events(4)
        second, third = events[1].seq, events[2].seq
        with triggers_disabled():
            # Swap the positions of two events (seq is unique: go through a free number).
            AuditEvent.objects.filter(seq=second).update(seq=-second)
            AuditEvent.objects.filter(seq=third).update(seq=second)
            AuditEvent.objects.filter(seq=-second).update(seq=third)
        result = audit_verify()
        assert (result.ok, result.bad_seq) == (False, second)

    def test_it_catches_a_forged_hash(self):
        events = record_events(3)
        forged = "f" * 64
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[1].seq).update(action="thing.forged", hash=forged)
            AuditEvent.objects.filter(seq=events[2].seq).update(prev_hash=forged)
        result = audit_verify()
        assert (result.ok, result.bad_seq) == (False, events[1].seq)

    def test_the_command_prints_the_first_bad_event_and_exits_1(self, capsys):
        events = record_events(3)
        with triggers_disabled():
            AuditEvent.objects.filter(seq=events[1].seq).update(actor="user:mallory")
        with pytest.raises(SystemExit) as exit_info:
            main(["refdesk", "audit", "verify"])
        assert exit_info.value.code == 1
        assert f"event #{events[1].seq}: " in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs real concurrent writers")
def test_concurrent_writers_keep_one_unbroken_chain(baseline):
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    failures = []

    def write(n: int):
        try:
            barrier.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    audit_record(
                        actor=f"system:writer{n}",
                        action="thing.happened",
                        subject=("thing", f"{n}-{i}"),
                    )
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    result = audit_verify()
    assert result.ok, result.problem
    assert result.checked == baseline.count + writers * per_writer


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs real concurrent writers")
def test_verify_while_writers_append_reports_no_false_break(baseline):
    record_events(200)
    stop = threading.Event()
    failures = []

    def write():
        try:
            while not stop.is_set():
                with transaction.atomic():
                    audit_record(actor="system:writer", action="thing.happened")
        except Exception as error:  # pragma: no cover - reported below
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        results = [audit_verify(chunk_size=20) for _ in range(10)]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert [r.problem for r in results if not r.ok] == []
    assert results[-1].checked > results[0].checked >= baseline.count + 200


class TestBatch:
    def test_a_batch_writes_its_events_in_order_when_it_ends(self, baseline):
        with transaction.atomic(), audit_batch():
            record_events(3)
            # not yet: the head is not locked yet
            assert AuditEvent.objects.count() == baseline.count
        added = AuditEvent.objects.filter(seq__gt=baseline.seq).order_by("seq")
        assert list(added.values_list("seq", "subject_id")) == [
            (baseline.seq + 1, "0"),
            (baseline.seq + 2, "1"),
            (baseline.seq + 3, "2"),
        ]
        assert added.first().prev_hash == baseline.hash
        assert audit_verify() == VerifyResult(checked=baseline.count + 3)

    def test_a_failed_batch_writes_nothing(self, baseline):
        with pytest.raises(RuntimeError), transaction.atomic(), audit_batch():
            record_events(2)
            raise RuntimeError("the change failed")
        assert trail_now() == baseline

    def test_nested_batches_join_the_outer_one_and_chain_with_single_events(self, baseline):
        record_events(1)
        with transaction.atomic(), audit_batch():
            record_events(1)
            with audit_batch():
                record_events(1)
            assert AuditEvent.objects.count() == baseline.count + 1
        record_events(1)
        assert audit_verify() == VerifyResult(checked=baseline.count + 4)
