"""Backups and restores of the whole database, each with a manifest that says what it needs.

``backup_create`` (``refdesk backup --out PATH``) writes one file and, beside it,
``<file>.manifest.json``:

- SQLite: Python's online backup API copies the live database in one step (a consistent
  snapshot; in WAL mode the server keeps writing meanwhile), the copy is made self-contained
  (``journal_mode=DELETE``) and must pass ``PRAGMA integrity_check``;
- PostgreSQL: ``pg_dump --format=custom`` of a snapshot exported by a ``REPEATABLE READ``
  transaction, which also reads the manifest's facts, so the audit chain head in the manifest
  is exactly the one inside the dump. Connection parameters go to ``pg_dump`` through libpq's
  environment variables (the password as ``PGPASSWORD``), never on its command line.

The manifest holds the refdesk version, the database vendor, when, the newest audit event's
sequence number and hash, the latest migration of each app, the file's SHA-256 and the
FINGERPRINTS of the keys in force (``key_fingerprint``: never the keys): the field keys that can
open the values inside, the index key and the audit key. The backup is then recorded as the
audit event ``backup.created`` (file name and SHA-256).

``restore`` (``refdesk restore PATH``) refuses a file whose SHA-256 differs from its manifest, a
backup of another vendor, a database that already holds tables (unless ``replace``), and keys
whose fingerprints differ from the manifest's (unless ``allow_key_mismatch``) — all before the
database is touched. Then it restores (``pg_restore --clean --if-exists --no-owner`` in one
transaction; SQLite: the backup API into the configured file, which no server may be using),
and checks the result: ``PRAGMA integrity_check`` (SQLite), the audit chain walked and its head
equal to the manifest's, and a sample of encrypted values (the first and last of every
encrypted column) decrypted with the configured keys. When all hold it records
``backup.restored``. docs/backup.md is the operator's guide.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone
from psycopg.conninfo import make_conninfo

from refdesk.audit.models import GENESIS_HASH, AuditChainHead
from refdesk.audit.services import Actor, audit_record, audit_verify
from refdesk.core.crypto import DecryptionFailed, decrypt_text
from refdesk.core.errors import ApplicationError
from refdesk.core.sqlite3.base import writer_lock_path
from refdesk.keys.keyring import embedded_token_sources, encrypted_columns

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None

MANIFEST_FORMAT = "refdesk-backup/1"
MANIFEST_SUFFIX = ".manifest.json"
_MANIFEST_MAX_BYTES = 1024 * 1024
_FINGERPRINT_LABEL = b"refdesk.key-fingerprint.v1"
_SUFFIX = {"sqlite": ".sqlite3", "postgresql": ".dump"}

# Connection settings passed to pg_dump / pg_restore as libpq environment variables.
_LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class BackupFailed(ApplicationError):
    """The backup could not be made; nothing usable was left at the path."""

    code = "backup_failed"


class RestoreRefused(ApplicationError):
    """Restoring would be unsafe or wrong; the database was not touched."""

    code = "restore_refused"


class RestoreFailed(ApplicationError):
    """The restore itself failed (pg_restore or the copy)."""

    code = "restore_failed"


# -- keys -------------------------------------------------------------------------------------


def key_fingerprint(key: str) -> str:
    """A short name for a key that reveals nothing of it: HMAC-SHA256 keyed BY the key over a
    fixed label. The same key always gives the same fingerprint, on every host."""
    digest = hmac.new(key.encode(), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
    return f"kfp:{digest[:20]}"


def keys_in_force() -> dict:
    """Fingerprints of the configured keys (field keys newest first, as configured)."""
    return {
        "field_keys": [key_fingerprint(key) for key in settings.FIELD_ENCRYPTION_KEYS],
        "index_key": key_fingerprint(settings.BLIND_INDEX_KEY),
        "audit_key": key_fingerprint(settings.AUDIT_HMAC_KEY),
    }


def key_mismatches(manifest: dict) -> list[str]:
    """What differs between the backup's keys and the configured ones, one sentence each."""
    wanted, have = manifest["keys"], keys_in_force()
    problems = []
    missing = [fp for fp in wanted["field_keys"] if fp not in have["field_keys"]]
    if missing:
        problems.append(
            f"REFDESK_FIELD_KEYS lacks field key(s) {', '.join(missing)} that were in force "
            f"when the backup was taken (configured: {', '.join(have['field_keys'])}); values "
            "under a missing key cannot be read"
        )
    if wanted["index_key"] != have["index_key"]:
        problems.append(
            f"REFDESK_INDEX_KEY is {have['index_key']}, the backup's was {wanted['index_key']}: "
            "search and duplicate detection would not find the restored leads"
        )
    if wanted["audit_key"] != have["audit_key"]:
        problems.append(
            f"REFDESK_AUDIT_KEY is {have['audit_key']}, the backup's was {wanted['audit_key']}: "
            "the audit chain could not be verified"
        )
    return problems


# -- backup -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest_path: Path
    manifest: dict


def manifest_path_for(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _target_path(out: Path, vendor: str, now: datetime) -> Path:
    if out.is_dir():
        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = out / f"refdesk-{stamp}{_SUFFIX[vendor]}"
    if not out.parent.is_dir():
        raise BackupFailed(f"{out.parent}: no such directory")
    if out.exists() or manifest_path_for(out).exists():
        raise BackupFailed(f"{out}: already exists; a backup never overwrites one")
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _refdesk_version() -> str:
    try:
        return metadata.version("refdesk")
    except metadata.PackageNotFoundError:
        return "unknown"


def _facts(cursor) -> dict:
    """The audit chain head and the latest migration per app, read with a DB-API cursor inside
    the snapshot being backed up."""
    cursor.execute("SELECT seq, hash FROM audit_auditchainhead WHERE id = 1")
    row = cursor.fetchone()
    seq, hash_ = (int(row[0]), row[1]) if row else (0, GENESIS_HASH)
    cursor.execute("SELECT app, MAX(name) FROM django_migrations GROUP BY app ORDER BY app")
    return {
        "audit_head": {"seq": seq, "hash": hash_},
        "migrations": {app: name for app, name in cursor.fetchall()},
    }


def _create_private(path: Path) -> None:
    """An empty file only its owner can read: the backup holds (encrypted) patient data."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_backup(connection, path: Path) -> dict:
    if connection.in_atomic_block:
        # SQLite's backup cannot read through a connection that is writing (SQLITE_LOCKED,
        # which Python retries for ever): a backup is taken outside any transaction.
        raise BackupFailed("a backup cannot be taken inside a transaction")
    connection.ensure_connection()
    target = sqlite3.connect(path)
    try:
        # One step (pages=-1): a consistent snapshot under one read transaction; in WAL mode
        # writers carry on meanwhile.
        connection.connection.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside
        facts = _facts(target.cursor())
        check = [row[0] for row in target.execute("PRAGMA integrity_check").fetchall()]
    finally:
        target.close()
    if check != ["ok"]:
        raise BackupFailed(f"the copy failed PRAGMA integrity_check: {'; '.join(check[:3])}")
    return {**facts, "server_version": sqlite3.sqlite_version}


def libpq_environment(settings_dict: dict) -> dict[str, str]:
    """libpq's environment variables for a Django PostgreSQL database: how pg_dump and
    pg_restore get the connection (and the password) without a command-line argument."""
    env = {}
    for name, variable in (
        ("NAME", "PGDATABASE"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
    ):
        if settings_dict.get(name):
            env[variable] = str(settings_dict[name])
    for option, variable in _LIBPQ_OPTIONS.items():
        value = (settings_dict.get("OPTIONS") or {}).get(option)
        if value not in (None, ""):
            env[variable] = str(value)
    return env


def _program(name: str, error: type[ApplicationError]) -> str:
    found = shutil.which(name)
    if found is None:
        raise error(
            f"{name} is not on PATH: install the PostgreSQL client tools of the server's major "
            "version (Debian: apt-get install postgresql-client)"
        )
    return found


def _run(command: list[str], settings_dict: dict, error: type[ApplicationError]) -> None:
    """Run a PostgreSQL client program; on failure, its stderr summarised (no secrets)."""
    env = {**os.environ, **libpq_environment(settings_dict)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        name = Path(command[0]).name
        raise error(f"{name} failed (exit {done.returncode}): {_summary(done.stderr, env)}")


def _summary(stderr: str, env: dict[str, str]) -> str:
    lines = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    text = " | ".join(lines[-3:]) or "no message"
    password = env.get("PGPASSWORD")
    if password:
        text = text.replace(password, "***")
    return text[:600]


def _postgresql_backup(connection, path: Path) -> dict:
    pg_dump = _program("pg_dump", BackupFailed)
    # A snapshot of its own: read the facts in it, and have pg_dump dump exactly that snapshot.
    raw = connection.Database.connect(**connection.get_connection_params())
    try:
        raw.autocommit = True
        with raw.cursor() as cursor:
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            facts = _facts(cursor)
            command = [
                pg_dump,
                "--format=custom",
                "--no-password",
                f"--snapshot={snapshot}",
                f"--file={path}",
            ]
            _run(command, connection.settings_dict, BackupFailed)
            cursor.execute("ROLLBACK")
    finally:
        raw.close()
    major, minor = divmod(connection.pg_version, 10000)
    return {**facts, "server_version": f"{major}.{minor}"}


def backup_create(out: str | Path, *, actor: Actor, using: str = "default") -> BackupResult:
    """Back the database up to ``out`` (a file, or a directory to name it in), write the
    manifest beside it and record ``backup.created``. ``BackupFailed`` leaves nothing behind."""
    connection = connections[using]
    vendor = connection.vendor
    if vendor not in _SUFFIX:
        raise BackupFailed(f"cannot back up a {vendor} database")
    created_at = timezone.now()
    path = _target_path(Path(out).expanduser().absolute(), vendor, created_at)
    partial = path.with_name(f".{path.name}.partial")
    try:
        _create_private(partial)
    except OSError as error:
        raise BackupFailed(f"{path}: cannot write there ({error.strerror})") from None
    try:
        if vendor == "sqlite":
            facts = _sqlite_backup(connection, partial)
        else:
            facts = _postgresql_backup(connection, partial)
        digest = _sha256(partial)
        manifest = {
            "format": MANIFEST_FORMAT,
            "file": path.name,
            "sha256": digest,
            "size": partial.stat().st_size,
            "refdesk_version": _refdesk_version(),
            "database": {"vendor": vendor, "server_version": facts["server_version"]},
            "created_at": created_at.astimezone(UTC).isoformat(timespec="seconds"),
            "audit_head": facts["audit_head"],
            "migrations": facts["migrations"],
            "keys": keys_in_force(),
        }
        manifest_path = manifest_path_for(path)
        manifest_partial = partial.with_name(partial.name + MANIFEST_SUFFIX)
        manifest_partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
        os.replace(manifest_partial, manifest_path)
    except BaseException:
        for leftover in (partial, partial.with_name(partial.name + MANIFEST_SUFFIX)):
            leftover.unlink(missing_ok=True)
        raise
    with transaction.atomic(using=using):
        audit_record(
            actor=actor,
            action="backup.created",
            subject=("backup", digest),
            changes={
                "file": (None, path.name),
                "vendor": (None, vendor),
                "audit_seq": (None, facts["audit_head"]["seq"]),
            },
        )
    return BackupResult(path=path, manifest_path=manifest_path, manifest=manifest)


# -- restore ----------------------------------------------------------------------------------


def manifest_load(path: str | Path) -> dict:
    """The manifest beside a backup file; ``RestoreRefused`` naming the file if it is not one."""
    manifest_path = manifest_path_for(Path(path))
    try:
        with open(manifest_path, "rb") as file:
            data = file.read(_MANIFEST_MAX_BYTES + 1)
    except OSError as error:
        raise RestoreRefused(
            f"{manifest_path}: cannot read the backup's manifest ({error.strerror}); it is "
            "written beside the backup and must be kept with it"
        ) from None
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RestoreRefused(f"{manifest_path}: not a backup manifest (not JSON)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise RestoreRefused(f"{manifest_path}: not a backup manifest ({MANIFEST_FORMAT})")
    try:
        sha = manifest["sha256"]
        vendor = manifest["database"]["vendor"]
        seq, hash_ = manifest["audit_head"]["seq"], manifest["audit_head"]["hash"]
        field_keys = manifest["keys"]["field_keys"]
        index_key, audit_key = manifest["keys"]["index_key"], manifest["keys"]["audit_key"]
    except (KeyError, TypeError):
        raise RestoreRefused(f"{manifest_path}: not a backup manifest (fields missing)") from None
    well_formed = (
        isinstance(sha, str)
        and len(sha) == 64
        and vendor in _SUFFIX
        and type(seq) is int
        and isinstance(hash_, str)
        and isinstance(field_keys, list)
        and all(isinstance(fp, str) for fp in [*field_keys, index_key, audit_key])
    )
    if not well_formed:
        raise RestoreRefused(f"{manifest_path}: not a backup manifest (malformed fields)")
    return manifest


@dataclass
class RestoreResult:
    manifest: dict
    checked_events: int = 0
    problems: list[str] = field(default_factory=list)
    restored_event_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _describe(connection) -> str:
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        host = connection.settings_dict.get("HOST") or "the local socket"
        return f'PostgreSQL database "{name}" on {host}'
    return f"SQLite database {name}"


def _sqlite_file(connection) -> str:
    name = str(connection.settings_dict["NAME"])
    if writer_lock_path(name) is None:
        raise RestoreRefused("the configured SQLite database is in memory: set DATABASE_URL")
    return name


def _sqlite_restore(connection, path: Path) -> None:
    target_name = _sqlite_file(connection)
    connection.close()
    lock_fd = None
    if fcntl is not None:
        # Queue behind (and keep out) the writers of refdesk processes sharing the file.
        lock_fd = os.open(writer_lock_path(target_name), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(target_name, timeout=20)
        try:
            source.backup(target)
            check = [row[0] for row in target.execute("PRAGMA integrity_check").fetchall()]
        finally:
            source.close()
            target.close()
    except sqlite3.Error as error:
        raise RestoreFailed(f"copying the backup into {target_name} failed: {error}") from None
    finally:
        if lock_fd is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)
    if check != ["ok"]:
        raise RestoreFailed(f"the restored database failed PRAGMA integrity_check: {check[0]}")


def _postgresql_restore(connection, path: Path) -> None:
    pg_restore = _program("pg_restore", RestoreFailed)
    connection.close()
    command = [
        pg_restore,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",  # all or nothing
        "--exit-on-error",
        "--no-password",
        # The name only (host, user, password: libpq's environment), quoted as conninfo.
        f"--dbname={make_conninfo(dbname=connection.settings_dict['NAME'])}",
        str(path),
    ]
    _run(command, connection.settings_dict, RestoreFailed)


def _sample_tokens() -> list[tuple[str, str]]:
    """(column label, token): the first and last stored value of every encrypted column, and
    one row of tokens embedded in another app's JSON (TOTP secrets)."""
    connection = connections["default"]
    quote = connection.ops.quote_name
    samples = []
    for column in encrypted_columns():
        for order in ("ASC", "DESC"):
            sql = (
                f"SELECT {quote(column.column)} FROM {quote(column.table)} "
                f"WHERE {quote(column.column)} IS NOT NULL AND {quote(column.column)} <> '' "
                f"ORDER BY {quote(column.pk_column)} {order} LIMIT 1"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql)
                row = cursor.fetchone()
            if row:
                samples.append((column.label, row[0]))
    for source in embedded_token_sources():
        for value in source.queryset().order_by("pk").values_list(source.field, flat=True)[:20]:
            tokens = source.tokens(value or {})
            if tokens:
                samples.append((source.label, tokens[0]))
                break
    return samples


def _undecryptable(samples: list[tuple[str, str]]) -> list[str]:
    failed = []
    for label, token in samples:
        try:
            decrypt_text(token)
        except DecryptionFailed:
            failed.append(label)
    return sorted(set(failed))


def restore(
    path: str | Path,
    *,
    actor: Actor,
    replace: bool = False,
    allow_key_mismatch: bool = False,
    say: Callable[[str], None] = lambda line: None,
) -> RestoreResult:
    """Restore a backup into the configured (default) database and check the result.

    Raises ``RestoreRefused`` before touching the database, ``RestoreFailed`` when the copy or
    pg_restore fails; otherwise returns what the checks found (``ok`` when all held).
    """
    path = Path(path).expanduser().absolute()
    manifest = manifest_load(path)
    if not path.is_file():
        raise RestoreRefused(f"{path}: no such backup file")
    if _sha256(path) != manifest["sha256"]:
        raise RestoreRefused(
            f"{path}: its SHA-256 differs from the manifest's: the file is damaged or not "
            "the one the manifest describes; nothing was restored"
        )
    head = manifest["audit_head"]
    say(
        f"{path.name}: SHA-256 matches its manifest ({manifest['database']['vendor']}, taken "
        f"{manifest['created_at']}, audit event #{head['seq']})"
    )
    connection = connections["default"]
    if manifest["database"]["vendor"] != connection.vendor:
        raise RestoreRefused(
            f"this is a {manifest['database']['vendor']} backup; the configured database is "
            f"{connection.vendor}"
        )
    mismatches = key_mismatches(manifest)
    if mismatches and not allow_key_mismatch:
        raise RestoreRefused(
            "the configured keys are not the backup's: "
            + "; ".join(mismatches)
            + ". Configure the keys kept with this backup (--allow-key-mismatch restores anyway)"
        )
    for mismatch in mismatches:
        say(f"warning: {mismatch}")
    if not mismatches:
        say("keys: the field, index and audit keys match the backup's fingerprints")
    tables = connection.introspection.table_names()
    if tables and not replace:
        raise RestoreRefused(
            f"the {_describe(connection)} is not empty ({len(tables)} tables): restoring "
            "replaces everything in it. Restore into a new, empty database, or pass --replace"
        )
    if connection.vendor == "sqlite":
        _sqlite_file(connection)
    say(f"restoring into the {_describe(connection)}")
    if connection.vendor == "sqlite":
        _sqlite_restore(connection, path)
    else:
        _postgresql_restore(connection, path)
    connection.close()
    return restore_check(manifest, path, actor=actor, say=say)


def restore_check(
    manifest: dict, path: Path, *, actor: Actor, say: Callable[[str], None] = lambda line: None
) -> RestoreResult:
    """Check the (restored) configured database against the backup's manifest: the audit chain
    walks, its head is the manifest's, the field keys decrypt a sample of values. When all hold,
    record ``backup.restored``."""
    result = RestoreResult(manifest=manifest)
    verified = audit_verify()
    result.checked_events = verified.checked
    if verified.ok:
        say(f"audit chain intact: {verified.checked} event(s) checked")
    else:
        result.problems.append(
            f"audit chain BROKEN after {verified.checked} event(s): {verified.problem}"
        )
    expected = manifest["audit_head"]
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (
        0,
        GENESIS_HASH,
    )
    if (head[0], head[1]) == (expected["seq"], expected["hash"]):
        say(f"chain head #{head[0]} is the manifest's")
    else:
        result.problems.append(
            f"chain head is #{head[0]} {head[1][:12]}…, the manifest names "
            f"#{expected['seq']} {expected['hash'][:12]}…"
        )
    samples = _sample_tokens()
    failed = _undecryptable(samples)
    if failed:
        have = keys_in_force()["field_keys"]
        missing = [fp for fp in manifest["keys"]["field_keys"] if fp not in have]
        which = (
            f"missing from REFDESK_FIELD_KEYS: {', '.join(missing)}"
            if missing
            else "the configured keys match the backup's, so these values were under a key "
            "dropped before the backup was taken"
        )
        result.problems.append(
            f"the configured field keys cannot decrypt restored values of {', '.join(failed)} "
            f"({which})"
        )
    elif samples:
        say(f"field keys decrypt the restored values ({len(samples)} sampled)")
    else:
        say("no encrypted values to decrypt")
    if result.ok:
        with transaction.atomic():
            event = audit_record(
                actor=actor,
                action="backup.restored",
                subject=("backup", manifest["sha256"]),
                changes={"file": (None, path.name), "audit_seq": (None, expected["seq"])},
            )
        result.restored_event_seq = event.seq
    return result
