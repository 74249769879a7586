"""Signed audit extracts: the events asked for, a signature that shows the file unchanged, and
the export itself on the trail."""

import io
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.audit.extract import ExtractFilter, audit_extract, audit_extract_check
from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_record, audit_verify

pytestmark = pytest.mark.django_db


def events(n: int, action: str = "test.thing") -> None:
    for i in range(n):
        audit_record(actor="system:test", action=action, subject=None, changes={"i": (None, i)})


def test_an_extract_holds_the_matching_events_in_chain_order_and_its_signature_checks():
    events(3, "consent.given")
    events(2, "referral.routed")
    out = io.BytesIO()
    extract = audit_extract(
        filters=ExtractFilter(action="consent."), out=out, actor="user:ines.auditor"
    )
    lines = out.getvalue().decode().splitlines()
    assert lines[0].startswith("seq,occurred_at,actor,action")
    assert extract.events == 3 and len(lines) == 4
    assert all(",consent.given," in line for line in lines[1:])
    seqs = [int(line.split(",")[0]) for line in lines[1:]]
    assert seqs == sorted(seqs)
    assert audit_extract_check(out.getvalue(), extract.signature)
    tampered = out.getvalue().replace(b"consent.given", b"consent.gavin", 1)
    assert not audit_extract_check(tampered, extract.signature)


def test_every_export_is_recorded_in_the_trail_which_still_verifies():
    events(2)
    out = io.BytesIO()
    extract = audit_extract(filters=ExtractFilter(), out=out, actor="user:ines.auditor")
    recorded = AuditEvent.objects.get(action="audit.exported")
    assert recorded.actor == "user:ines.auditor"
    assert recorded.changes["events"]["new"] == extract.events
    assert recorded.changes["sha256"]["new"] == extract.sha256
    assert audit_verify().ok


def test_a_period_and_an_actor_narrow_it():
    events(2)
    audit_record(actor="user:other", action="test.thing", subject=None)
    now = datetime.now(UTC)
    out = io.BytesIO()
    extract = audit_extract(
        filters=ExtractFilter(
            since=datetime(2000, 1, 1, tzinfo=UTC), until=now, actor="user:other"
        ),
        out=out,
        actor="system:test",
    )
    assert extract.events == 1


def test_the_command_writes_the_file_and_its_signature_and_checks_them(tmp_path, capsys):
    events(4)
    path = tmp_path / "extract.csv"
    call_command("audit", "export", "--out", str(path), "--action", "test.thing", "--as", "ines")
    assert "4 event(s) written" in capsys.readouterr().out
    assert (tmp_path / "extract.csv.sig").read_text().startswith("hmac-sha256:")
    call_command("audit", "check-export", str(path))
    assert "signature valid" in capsys.readouterr().out
    path.write_bytes(path.read_bytes() + b"1,forged\n")
    with pytest.raises(CommandError, match="does not match"):
        call_command("audit", "check-export", str(path))
    assert AuditEvent.objects.filter(action="audit.exported", actor="cli:ines").count() == 1


def test_a_malformed_date_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("audit", "export", "--out", str(tmp_path / "x.csv"), "--since", "last week")
    assert not AuditEvent.objects.filter(action="audit.exported").exists()
