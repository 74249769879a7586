"""Field-key rotation: re-encrypt every encrypted column under the newest key.

Rotation procedure (README "Rotating the field key"):
1. ``refdesk keys generate`` and put the new key FIRST in ``REFDESK_FIELD_KEYS``, keeping the old;
2. ``refdesk keys rotate`` re-encrypts every stored value under the new key (safe to re-run);
3. ``refdesk keys status`` shows nothing left under an old key; then drop the old key.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connection, transaction

from refdesk.audit.services import audit_record
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


def field_keys_rotate(*, actor, batch_size: int = 1000) -> dict[str, int]:
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
    return totals


def field_keys_status() -> dict[str, tuple[int, int]]:
    """Per column: (values under the newest key, values under an older key)."""
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
    return status
