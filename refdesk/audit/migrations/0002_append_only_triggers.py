"""Database triggers that reject UPDATE and DELETE on audit events, on SQLite and PostgreSQL.

Code has no update or delete path; these make the database itself refuse one, whoever asks.
(TRUNCATE on PostgreSQL needs table ownership and is left to the database administrator.)
"""

from django.db import migrations

TABLE = "audit_auditevent"

SQLITE_CREATE = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON {TABLE}
        BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
]
POSTGRES_CREATE = [
    """CREATE OR REPLACE FUNCTION refdesk_reject_change() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END
       $$ LANGUAGE plpgsql""",
    f"""CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON {TABLE}
        FOR EACH ROW EXECUTE FUNCTION refdesk_reject_change()""",
]
POSTGRES_DROP = [f"DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE}"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_CREATE, "postgresql": POSTGRES_CREATE}),
            _run({"sqlite": SQLITE_DROP, "postgresql": POSTGRES_DROP}),
        ),
    ]
