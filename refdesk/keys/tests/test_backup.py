"""refdesk backup / restore: a backup restores into a fresh database whose audit chain verifies
and ends at the manifest's head, with the data readable; a damaged file, the wrong keys and a
database that already holds data are refused before anything is written."""

from __future__ import annotations

import copy
import json
import stat
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import load_backend

from refdesk.audit.models import AuditChainHead, AuditEvent
from refdesk.intake.models import Referral
from refdesk.keys import backup as backup_module
from refdesk.keys.backup import (
    BackupFailed,
    backup_create,
    key_fingerprint,
    libpq_environment,
    manifest_load,
    restore_check,
)
from refdesk.testing import submit, trial

POSTGRES = connection.vendor == "postgresql"
ACTOR = "cli:tester"


def _referrals(n: int) -> list[Referral]:
    return [submit("trial-prescreening", trial(i + 1)) for i in range(n)]


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


# pg_dump reads committed data only: on PostgreSQL these tests commit (transactional tests).
# Asked for by fixture name, not by a django_db marker: the root conftest puts the demo
# programs back after a transactional test's flush only when its database fixture is set up
# after the conftest's own (a marker's is set up first).
on_committed_data = pytest.mark.usefixtures("transactional_db" if POSTGRES else "db")


@contextmanager
def _default_database(name: str):
    """Point the default connection at another database of the same server for a while; the
    test's own connection (and its transaction) is left as it was, and put back after.

    On SQLite the stand-in uses Django's stock backend: refdesk's queues writers on one lock
    per process, which the test's own (in-memory) transaction holds until the test ends."""
    original = connections["default"]
    settings_dict = copy.deepcopy(original.settings_dict)
    settings_dict.pop("TEST", None)
    settings_dict["NAME"] = name
    if not POSTGRES:
        settings_dict["ENGINE"] = "django.db.backends.sqlite3"
    swapped = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "default")
    connections["default"] = swapped
    try:
        yield swapped
    finally:
        swapped.close()
        connections["default"] = original


@pytest.fixture
def source_database(tmp_path):
    """A database to back up whose writes are committed, as pg_dump and SQLite's backup API
    need. PostgreSQL: the test's own (the test is transactional). SQLite: the tests' database
    is in memory and a transactional test cannot empty it (audit events refuse DELETE), so the
    default connection points at a file copy of it during the test."""
    if POSTGRES:
        yield
        return
    path = tmp_path / "source.sqlite3"
    connection.ensure_connection()
    path.write_bytes(connection.connection.serialize())
    with _default_database(str(path)):
        yield


@contextmanager
def _fresh_database(tmp_path: Path):
    """A new, empty database of the same vendor, the default connection pointed at it."""
    if not POSTGRES:
        with _default_database(str(tmp_path / "restored.sqlite3")):
            yield
        return
    name = f"refdesk_backup_restore_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        with _default_database(name):
            yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@on_committed_data
def test_a_backup_restores_into_a_fresh_database_that_verifies_and_reads_back(
    source_database, tmp_path, capsys, settings
):
    referrals = _referrals(2)
    path = tmp_path / "nightly.bak"
    call_command("backup", "--out", str(path), "--as", "tester")
    assert "backup written" in capsys.readouterr().out
    manifest = manifest_load(path)

    # The manifest: the file's digest, the chain head inside the backup, keys by fingerprint.
    assert manifest["sha256"] == backup_module._sha256(path)
    assert manifest["database"]["vendor"] == connection.vendor
    applied = MigrationRecorder(connection).applied_migrations()
    assert manifest["migrations"]["intake"] == max(name for app, name in applied if app == "intake")
    created = AuditEvent.objects.get(action="backup.created")
    assert (created.seq, created.prev_hash) == (
        manifest["audit_head"]["seq"] + 1,
        manifest["audit_head"]["hash"],
    )
    assert created.actor == "cli:tester"
    assert created.subject_id == manifest["sha256"]
    assert created.changes["file"]["new"] == "nightly.bak"
    manifest_text = (tmp_path / "nightly.bak.manifest.json").read_text()
    for key in (*settings.FIELD_ENCRYPTION_KEYS, settings.BLIND_INDEX_KEY, settings.AUDIT_HMAC_KEY):
        assert key not in manifest_text
    assert manifest["keys"] == {
        "field_keys": [key_fingerprint(key) for key in settings.FIELD_ENCRYPTION_KEYS],
        "index_key": key_fingerprint(settings.BLIND_INDEX_KEY),
        "audit_key": key_fingerprint(settings.AUDIT_HMAC_KEY),
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    event_text = json.dumps(created.changes) + created.subject_id
    assert "Quill" not in event_text and "example.org" not in event_text

    columns = ("public_id", "reference", "stage", "received_at", "email_index", "lead")
    original = list(Referral.objects.order_by("pk").values_list(*columns))
    original_leads = {referral.pk: referral.lead for referral in referrals}

    with _fresh_database(tmp_path):
        call_command("restore", str(path), "--as", "drill")
        out = capsys.readouterr().out
        assert f"chain head #{manifest['audit_head']['seq']} is the manifest's" in out
        assert "field keys decrypt the restored values" in out
        call_command("audit", "verify")
        assert "audit chain intact" in capsys.readouterr().out

        # The chain goes on from the manifest's head with the restore's own event; the
        # referrals are there, their encrypted lead readable with the configured keys.
        restored_head = AuditChainHead.objects.get(pk=1)
        assert restored_head.seq == manifest["audit_head"]["seq"] + 1
        restored_event = AuditEvent.objects.get(seq=restored_head.seq)
        assert (restored_event.action, restored_event.actor) == ("backup.restored", "cli:drill")
        assert restored_event.prev_hash == manifest["audit_head"]["hash"]
        assert not AuditEvent.objects.filter(action="backup.created").exists()
        assert list(Referral.objects.order_by("pk").values_list(*columns)) == original
        for pk, lead in original_leads.items():
            assert Referral.objects.get(pk=pk).lead == lead


@on_committed_data
def test_a_damaged_backup_is_refused_by_its_sha256(source_database, tmp_path):
    _referrals(1)
    path = backup_create(tmp_path / "b.bak", actor=ACTOR).path
    _flip_a_byte(path)
    with _fresh_database(tmp_path):
        with pytest.raises(CommandError, match="SHA-256 differs from the manifest's"):
            call_command("restore", str(path))
        assert connection.introspection.table_names() == []  # nothing restored


@on_committed_data
def test_restoring_into_a_database_that_holds_data_is_refused(source_database, tmp_path):
    (referral,) = _referrals(1)
    path = backup_create(tmp_path / "b.bak", actor=ACTOR).path
    head = AuditChainHead.objects.get(pk=1).seq
    with pytest.raises(CommandError, match=r"is not empty \(\d+ tables\).*--replace"):
        call_command("restore", str(path))
    assert Referral.objects.filter(pk=referral.pk).exists()
    assert AuditChainHead.objects.get(pk=1).seq == head  # nothing restored, nothing recorded


@on_committed_data
def test_restoring_with_other_field_keys_is_refused_naming_the_missing_key(
    source_database, tmp_path, settings
):
    _referrals(1)
    path = backup_create(tmp_path / "b.bak", actor=ACTOR).path
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    with _fresh_database(tmp_path):
        with pytest.raises(CommandError) as refused:
            call_command("restore", str(path))
        assert connection.introspection.table_names() == []
    message = str(refused.value)
    assert f"REFDESK_FIELD_KEYS lacks field key(s) {key_fingerprint(old_key)}" in message
    assert f"(configured: {key_fingerprint(new_key)})" in message
    assert "REFDESK_INDEX_KEY" not in message and "REFDESK_AUDIT_KEY" not in message
    assert old_key not in message and new_key not in message


@on_committed_data
def test_the_check_after_a_restore_names_the_key_its_values_need(
    source_database, tmp_path, settings
):
    _referrals(1)
    result = backup_create(tmp_path / "b.bak", actor=ACTOR)
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    # What `restore --allow-key-mismatch` runs after restoring, here on the backed-up database.
    checked = restore_check(result.manifest, result.path, actor=ACTOR)
    assert not checked.ok
    (undecryptable,) = [p for p in checked.problems if "cannot decrypt" in p]
    assert "intake.Referral.lead" in undecryptable
    assert f"missing from REFDESK_FIELD_KEYS: {key_fingerprint(old_key)}" in undecryptable
    # backup.created came after the snapshot, so this database is not the backup's state.
    assert any("the manifest names" in p for p in checked.problems)
    assert checked.restored_event_seq is None
    assert not AuditEvent.objects.filter(action="backup.restored").exists()


@on_committed_data
def test_a_backup_is_never_written_over_and_a_directory_gets_a_dated_name(
    source_database, tmp_path
):
    backups = tmp_path / "backups"
    backups.mkdir()
    first = backup_create(backups, actor=ACTOR)
    assert first.path.parent == backups
    assert first.path.name.startswith("refdesk-")
    assert first.path.suffix == (".dump" if POSTGRES else ".sqlite3")
    assert first.manifest_path.name == first.path.name + ".manifest.json"
    with pytest.raises(BackupFailed, match="already exists"):
        backup_create(first.path, actor=ACTOR)
    with pytest.raises(CommandError, match="no such directory"):
        call_command("backup", "--out", str(backups / "missing" / "b.bak"))
    assert {p.name for p in backups.iterdir()} == {first.path.name, first.manifest_path.name}


def test_pg_tools_get_the_password_from_the_environment_never_the_command_line(monkeypatch):
    seen = {}

    def fake_run(command, *, env, **kwargs):
        seen.update(command=command, env=env)
        stderr = 'pg_dump: error: FATAL:  password authentication failed for user "ops" s3cret\n'
        return subprocess.CompletedProcess(command, 1, "", stderr)

    monkeypatch.setattr(backup_module.subprocess, "run", fake_run)
    settings_dict = {
        "NAME": "refdesk",
        "USER": "ops",
        "PASSWORD": "s3cret",
        "HOST": "db.internal",
        "PORT": "5433",
        "OPTIONS": {"sslmode": "require"},
    }
    with pytest.raises(BackupFailed) as failed:
        backup_module._run(["/usr/bin/pg_dump", "--format=custom"], settings_dict, BackupFailed)
    assert "s3cret" not in " ".join(seen["command"])
    assert seen["env"]["PGPASSWORD"] == "s3cret"
    assert libpq_environment(settings_dict) == {
        "PGDATABASE": "refdesk",
        "PGUSER": "ops",
        "PGPASSWORD": "s3cret",
        "PGHOST": "db.internal",
        "PGPORT": "5433",
        "PGSSLMODE": "require",
    }
    assert failed.value.message.startswith("pg_dump failed (exit 1): ")
    assert "password authentication failed" in failed.value.message
    assert "s3cret" not in failed.value.message


@pytest.mark.skipif(not POSTGRES, reason="SQLite backups run no external program")
@on_committed_data
def test_without_pg_dump_on_path_the_backup_says_what_to_install(
    source_database, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(CommandError, match="pg_dump is not on PATH: install"):
        call_command("backup", "--out", str(tmp_path / "b.dump"))
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


@pytest.mark.skipif(not POSTGRES, reason="pg_dump is only used on PostgreSQL")
def test_a_failing_pg_dump_is_summarised_from_its_stderr(tmp_path):
    settings_dict = {**connections["default"].settings_dict, "NAME": "refdesk_backup_absent"}
    with pytest.raises(BackupFailed, match=r'pg_dump failed \(exit 1\): .*"refdesk_backup_absent"'):
        backup_module._run(
            ["pg_dump", "--no-password", f"--file={tmp_path / 'x.dump'}"],
            settings_dict,
            BackupFailed,
        )


@pytest.mark.skipif(POSTGRES, reason="pg_dump reads a snapshot of its own, in or out of one")
@pytest.mark.django_db
def test_an_sqlite_backup_inside_a_transaction_is_refused_not_left_hanging(tmp_path):
    with pytest.raises(BackupFailed, match="inside a transaction"):
        backup_create(tmp_path / "b.sqlite3", actor=ACTOR)
    assert list(tmp_path.iterdir()) == []
