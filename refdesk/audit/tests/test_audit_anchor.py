"""Anchors: signed checkpoints an operator keeps away from the database.

The signed head stops someone without the audit key. Someone with the key — or who saved an older
signed head row — can still cut the chain back to an earlier event; an anchor taken before that
still names the event that is gone, and ``verify --anchor`` says so.

Each test starts with whatever the trail already holds (``baseline``, see conftest.py); the tail
it cuts is the tail of the whole chain, which holds only events the test recorded itself.
"""

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.test import override_settings

from refdesk.audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from refdesk.audit.services import (
    AuditAnchorInvalid,
    _anchor_mac,
    audit_anchor,
    audit_anchor_check,
    audit_anchor_load,
    audit_anchor_parse,
    audit_verify,
    head_mac,
)
from refdesk.audit.tests.tampering import (
    cut_tail,
    event_hash,
    read_head,
    record_events,
    rewrite_head,
)
from refdesk.cli import main

pytestmark = pytest.mark.django_db

NOT_SIGNED = "anchor is not signed by this installation's audit key"
OTHER_KEY = "a-key-that-is-not-this-installations-" + "k" * 16


def _take_anchor(tmp_path, name="anchor.json"):
    path = tmp_path / name
    call_command("audit", "anchor", "--output", str(path))
    return path


def _verify(*anchor_paths) -> int:
    """``refdesk audit verify --anchor ...`` as an operator runs it; the exit code."""
    argv = ["refdesk", "audit", "verify"]
    if anchor_paths:
        argv += ["--anchor", *map(str, anchor_paths)]
    try:
        main(argv)
    except SystemExit as exit_info:
        return exit_info.code
    return 0


def _edit(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


class TestTakingAnAnchor:
    def test_it_names_the_newest_event_when_it_happened_and_when_the_anchor_was_made(
        self, baseline
    ):
        events = record_events(4)
        before = datetime.now(UTC)

        anchor = audit_anchor()

        newest = AuditEvent.objects.order_by("-seq").first()
        assert (newest.seq, newest.hash) == (baseline.seq + 4, events[-1].hash)
        assert (anchor.seq, anchor.hash) == (newest.seq, newest.hash)
        assert anchor.occurred_at == newest.occurred_at
        assert before <= anchor.anchored_at <= datetime.now(UTC)
        assert len(anchor.mac) == 64

    def test_the_command_prints_a_small_json_document(self, baseline, capsys):
        events = record_events(2)

        call_command("audit", "anchor")

        printed = json.loads(capsys.readouterr().out)
        assert list(printed) == ["seq", "hash", "occurred_at", "anchored_at", "mac"]
        assert (printed["seq"], printed["hash"]) == (baseline.seq + 2, events[-1].hash)
        assert audit_anchor_parse(json.dumps(printed)).seq == baseline.seq + 2

    def test_output_writes_the_same_document_to_a_file(self, tmp_path, capsys):
        events = record_events(2)

        path = _take_anchor(tmp_path)

        assert f"audit anchor for event #{events[-1].seq} written to {path}" in (
            capsys.readouterr().out
        )
        assert audit_anchor_load(path).hash == events[-1].hash

    @pytest.mark.parametrize(
        "head_row",
        [
            pytest.param(False, id="no head row yet"),
            pytest.param(True, id="a head row at genesis"),
        ],
    )
    def test_an_empty_trail_has_nothing_to_anchor(self, empty_trail, head_row, capsys):
        if head_row:
            AuditChainHead.objects.create(
                pk=1, seq=0, hash=GENESIS_HASH, mac=head_mac(0, GENESIS_HASH)
            )

        with pytest.raises(SystemExit) as exit_info:
            main(["refdesk", "audit", "anchor"])

        assert exit_info.value.code == 1
        assert "the audit trail is empty: nothing to anchor yet" in capsys.readouterr().err

    def test_it_refuses_to_vouch_for_a_head_rewritten_without_the_key(self, capsys):
        events = record_events(4)
        second = events[1].seq
        cut_tail(keep=second)
        rewrite_head(second, event_hash(second))

        with pytest.raises(SystemExit) as exit_info:
            main(["refdesk", "audit", "anchor"])

        assert exit_info.value.code == 1
        assert "not authenticated" in capsys.readouterr().err


class TestVerifyingWithAnchors:
    def test_an_anchor_of_an_intact_chain_holds_as_the_chain_grows(
        self, baseline, tmp_path, capsys
    ):
        anchored = record_events(3)
        path = _take_anchor(tmp_path)
        record_events(2)

        assert _verify(path) == 0

        out = capsys.readouterr().out
        assert f"audit chain intact: {baseline.count + 5} event(s) checked" in out
        assert f"audit anchor {path} holds: event #{anchored[-1].seq} unchanged since" in out

    def test_an_insider_with_the_key_who_cuts_below_the_anchor_is_caught(self, tmp_path, capsys):
        anchored = record_events(5)
        path = _take_anchor(tmp_path)
        record_events(2)
        # Delete all but the first three events the test recorded and sign a consistent head
        # with the real key: the walk cannot tell.
        third = anchored[2].seq
        cut_tail(keep=third)
        rewrite_head(third, event_hash(third), head_mac(third, event_hash(third)))
        assert audit_verify().ok

        assert _verify(path) == 1

        err = capsys.readouterr().err
        assert (
            f"audit anchor {path} FAILED: events up to #{anchored[-1].seq} were removed or "
            "rewritten after the anchor was taken"
        ) in err

    def test_restoring_an_older_signed_head_after_cutting_the_tail_is_caught(self, tmp_path):
        older = record_events(3)
        saved_head = read_head()  # a copy of the row, signature included; no key needed
        record_events(3)
        path = _take_anchor(tmp_path)
        cut_tail(keep=older[-1].seq)
        rewrite_head(*saved_head)
        assert audit_verify().ok  # a genuine, signed head that names the last event

        assert _verify(path) == 1

    def test_an_event_at_the_anchor_rewritten_with_the_key_is_caught(self, tmp_path):
        events = record_events(3)
        anchor = audit_anchor_load(_take_anchor(tmp_path))
        second = events[1].seq
        cut_tail(keep=second)
        rewrite_head(second, event_hash(second), head_mac(second, event_hash(second)))
        [replacement] = record_events(1)  # a different event at the anchor's seq, chained, signed

        assert replacement.seq == anchor.seq
        assert audit_verify().ok
        assert audit_anchor_check(anchor) == (
            f"events up to #{anchor.seq} were removed or rewritten after the anchor was taken"
        )

    def test_several_anchors_are_checked_and_each_reported(self, tmp_path, capsys):
        record_events(2)
        early = _take_anchor(tmp_path, "early.json")
        events = record_events(3)
        late = _take_anchor(tmp_path, "late.json")
        kept = events[1].seq  # above the early anchor, below the late one
        cut_tail(keep=kept)
        rewrite_head(kept, event_hash(kept), head_mac(kept, event_hash(kept)))

        assert _verify(early, "--anchor", late) == 1

        captured = capsys.readouterr()
        assert f"audit anchor {early} holds" in captured.out
        assert f"audit anchor {late} FAILED: events up to #{events[-1].seq}" in captured.err

    def test_a_broken_chain_fails_even_when_the_anchors_hold(self, tmp_path, capsys):
        events = record_events(4)
        path = _take_anchor(tmp_path)
        second = events[1].seq
        cut_tail(keep=second)
        rewrite_head(second, event_hash(second))

        assert _verify(path) == 1

        err = capsys.readouterr().err
        assert "chain head is not authenticated" in err
        assert f"audit anchor {path} FAILED" in err


class TestForgedAnchors:
    def test_an_anchor_with_an_edited_seq_is_refused(self, tmp_path, capsys):
        events = record_events(5)
        path = _take_anchor(tmp_path)
        third = events[2].seq
        cut_tail(keep=third)
        rewrite_head(third, event_hash(third), head_mac(third, event_hash(third)))
        _edit(path, seq=third, hash=event_hash(third))  # made to match the cut chain

        assert _verify(path) == 1

        assert f"audit anchor {path} FAILED: {NOT_SIGNED}" in capsys.readouterr().err

    def test_an_anchor_signed_with_another_key_is_refused(self):
        record_events(3)
        anchor = audit_anchor()
        with override_settings(AUDIT_HMAC_KEY=OTHER_KEY):
            other_mac = _anchor_mac(anchor.seq, anchor.hash, anchor.occurred_at, anchor.anchored_at)
        foreign = dataclasses.replace(anchor, mac=other_mac)

        assert audit_anchor_check(anchor) is None
        assert audit_anchor_check(foreign).startswith(NOT_SIGNED)

    def test_the_signature_covers_when_the_event_happened_and_the_anchor_was_made(self):
        record_events(1)
        anchor = audit_anchor()
        moved = datetime(2020, 1, 1, tzinfo=UTC)

        for edited in (
            dataclasses.replace(anchor, occurred_at=moved),
            dataclasses.replace(anchor, anchored_at=moved),
        ):
            assert audit_anchor_check(edited).startswith(NOT_SIGNED)


VALID = {
    "seq": 1,
    "hash": "a" * 64,
    "occurred_at": "2026-01-02T03:04:05.000006+00:00",
    "anchored_at": "2026-01-02T03:04:05+00:00",
    "mac": "b" * 64,
}


class TestMalformedAnchorFiles:
    @pytest.mark.parametrize(
        ("content", "why"),
        [
            (b"", "not JSON"),
            (b"seq=3", "not JSON"),
            (b"[1, 2]", "not a JSON object"),
            (json.dumps({"seq": 1}).encode(), "missing hash, occurred_at, anchored_at, mac"),
            (json.dumps({**VALID, "note": "x"}).encode(), "unexpected note"),
            (json.dumps({**VALID, "seq": "1"}).encode(), "seq must be a whole number"),
            (json.dumps({**VALID, "seq": 0}).encode(), "seq must be a whole number"),
            (json.dumps({**VALID, "seq": True}).encode(), "seq must be a whole number"),
            (json.dumps({**VALID, "hash": "A" * 64}).encode(), "hash must be 64 lowercase hex"),
            (json.dumps({**VALID, "mac": None}).encode(), "mac must be 64 lowercase hex"),
            (json.dumps({**VALID, "occurred_at": "yesterday"}).encode(), "occurred_at must be"),
            (json.dumps({**VALID, "anchored_at": "2026-01-02T03:04:05"}).encode(), "UTC offset"),
            (json.dumps({**VALID, "anchored_at": 5}).encode(), "anchored_at must be"),
            (b"\xff\xfe\x00garbage", "not UTF-8"),
        ],
    )
    def test_verify_exits_2_with_one_line_naming_the_file(self, tmp_path, capsys, content, why):
        record_events(1)
        path = tmp_path / "anchor.json"
        path.write_bytes(content)

        assert _verify(path) == 2

        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert err.count("\n") == 1
        assert f"{path}: not an audit anchor (" in err
        assert why in err

    def test_a_missing_file_exits_2_too(self, tmp_path, capsys):
        path = tmp_path / "nowhere.json"

        assert _verify(path) == 2

        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert f"{path}: cannot read it (No such file or directory)" in err

    def test_a_bad_file_stops_before_the_walk_even_next_to_good_ones(self, tmp_path, capsys):
        record_events(1)
        good = _take_anchor(tmp_path)
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        capsys.readouterr()

        assert _verify(good, bad) == 2

        captured = capsys.readouterr()
        assert "event(s) checked" not in captured.out
        assert f"{bad}: not an audit anchor (missing seq" in captured.err

    def test_the_parser_reports_the_same_as_an_error(self):
        with pytest.raises(AuditAnchorInvalid, match=r"not an audit anchor \(not JSON"):
            audit_anchor_parse("{")
