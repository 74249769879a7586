"""Field-key rotation: re-encrypt every encrypted column under the newest key.

Rotation procedure (README "Rotating the field key"):
1. ``refdesk keys generate`` and put the new key FIRST in ``REFDESK_FIELD_KEYS``, keeping the old;
2. ``refdesk keys rotate`` re-encrypts every stored value under the new key (safe to re-run);
3. ``refdesk keys status`` shows nothing left under an old key; then drop the old key.

Two kinds of stored values are covered: every ``EncryptedTextField`` / ``EncryptedJSONField``
column (found by walking the models), and tokens kept inside a JSON column of a model refdesk
does not define — allauth's TOTP secrets and recovery-code seeds in ``Authenticator.data`` —
which the app that writes them registers (``register_embedded_tokens``). Miss one and dropping
the old key locks everyone out, so ``keys status`` reports both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction

from refdesk.audit.services import Actor, audit_record
from refdesk.core.crypto import is_encrypted_with_primary_key, rotate_token
from refdesk.core.fields import EncryptedJSONField, EncryptedTextField


@dataclass(frozen=True)
class EncryptedColumn:
    label: str  # "intake.Referral.lead"
    table: str
    pk_column: str
    column: str


def encrypted_columns() -> list[EncryptedColumn]:
    columns = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField | EncryptedJSONField):
                columns.append(
                    EncryptedColumn(
                        label=f"{model._meta.label}.{field.name}",
                        table=model._meta.db_table,
                        pk_column=model._meta.pk.column,
                        column=field.column,
                    )
                )
    return columns


@dataclass(frozen=True)
class EmbeddedTokens:
    """Encrypted tokens inside one JSON column of rows refdesk does not define (so no
    encrypted field marks them): which rows, the tokens of one value, and the value with each
    token replaced. Registered by the app that encrypts them."""

    label: str  # "mfa.Authenticator.data"
    queryset: Callable[[], object]  # the rows that may hold tokens (a QuerySet)
    field: str  # the JSON field holding them
    tokens: Callable[[dict], list[str]]
    replace: Callable[[dict, Callable[[str], str]], dict]


_embedded: dict[str, EmbeddedTokens] = {}


def register_embedded_tokens(source: EmbeddedTokens) -> None:
    _embedded[source.label] = source


def embedded_token_sources() -> list[EmbeddedTokens]:
    return list(_embedded.values())


def _embedded_pk_batches(source: EmbeddedTokens, batch_size: int):
    """The rows' primary keys, in order, a batch at a time."""
    last_pk = None
    while True:
        rows = source.queryset().order_by("pk")
        if last_pk is not None:
            rows = rows.filter(pk__gt=last_pk)
        pks = list(rows.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return
        yield pks
        last_pk = pks[-1]


def _batches(column: EncryptedColumn, batch_size: int):
    """Raw tokens in primary-key order, read straight from the table (no decryption)."""
    quote = connection.ops.quote_name
    last_pk = None
    while True:
        where = f"WHERE {quote(column.pk_column)} > %s " if last_pk is not None else ""
        sql = (
            f"SELECT {quote(column.pk_column)}, {quote(column.column)} "
            f"FROM {quote(column.table)} {where}"
            f"ORDER BY {quote(column.pk_column)} LIMIT {int(batch_size)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [last_pk] if last_pk is not None else [])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last_pk = rows[-1][0]


def field_keys_rotate(*, actor: Actor, batch_size: int = 1000) -> dict[str, int]:
    """Re-encrypt every value; each batch commits with its own audit event. Rows per column."""
    quote = connection.ops.quote_name
    totals: dict[str, int] = {}
    for column in encrypted_columns():
        totals[column.label] = 0
        for rows in _batches(column, batch_size):
            updates = [(rotate_token(token), pk) for pk, token in rows if token]
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.executemany(
                        f"UPDATE {quote(column.table)} SET {quote(column.column)} = %s "
                        f"WHERE {quote(column.pk_column)} = %s",
                        updates,
                    )
                audit_record(
                    actor=actor,
                    action="keys.rotated",
                    subject=("column", column.label),
                    changes={"rows": (None, len(updates))},
                )
            totals[column.label] += len(updates)
    for source in embedded_token_sources():
        totals[source.label] = 0
        for pks in _embedded_pk_batches(source, batch_size):
            # One transaction per batch: the rows are locked while rewritten, so a concurrent
            # write to one of them (a recovery code marked used) waits instead of being lost.
            with transaction.atomic():
                rows = (
                    source.queryset()
                    .filter(pk__in=pks)
                    .select_for_update()
                    .values_list("pk", source.field)
                )
                changed = 0
                for pk, value in rows:
                    if not source.tokens(value or {}):
                        continue
                    rotated = source.replace(value, rotate_token)
                    source.queryset().filter(pk=pk).update(**{source.field: rotated})
                    changed += 1
                if changed:
                    audit_record(
                        actor=actor,
                        action="keys.rotated",
                        subject=("column", source.label),
                        changes={"rows": (None, changed)},
                    )
            totals[source.label] += changed
    return totals


def field_keys_status() -> dict[str, tuple[int, int]]:
    """Per column: (values under the newest key, values under an older key); for embedded
    tokens, rows (a row is under the newest key when all its tokens are)."""
    status = {}
    for column in encrypted_columns():
        current = older = 0
        for rows in _batches(column, 5000):
            for _pk, token in rows:
                if not token:
                    continue
                if is_encrypted_with_primary_key(token):
                    current += 1
                else:
                    older += 1
        status[column.label] = (current, older)
    for source in embedded_token_sources():
        current = older = 0
        for pks in _embedded_pk_batches(source, 5000):
            for value in source.queryset().filter(pk__in=pks).values_list(source.field, flat=True):
                tokens = source.tokens(value or {})
                if not tokens:
                    continue
                if all(is_encrypted_with_primary_key(token) for token in tokens):
                    current += 1
                else:
                    older += 1
        status[source.label] = (current, older)
    return status
