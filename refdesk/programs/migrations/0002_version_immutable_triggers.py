"""Program versions are immutable snapshots: the database rejects UPDATE and DELETE on them."""

from django.db import migrations

TABLE = "programs_programversion"

CREATE = {
    "sqlite": [
        f"""CREATE TRIGGER program_version_no_update BEFORE UPDATE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, 'program versions are immutable'); END""",
        f"""CREATE TRIGGER program_version_no_delete BEFORE DELETE ON {TABLE}
            BEGIN SELECT RAISE(ABORT, 'program versions are immutable'); END""",
    ],
    "postgresql": [
        """CREATE OR REPLACE FUNCTION refdesk_reject_change() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END
           $$ LANGUAGE plpgsql""",
        f"""CREATE TRIGGER program_version_immutable BEFORE UPDATE OR DELETE ON {TABLE}
            FOR EACH ROW EXECUTE FUNCTION refdesk_reject_change()""",
    ],
}
DROP = {
    "sqlite": [
        "DROP TRIGGER IF EXISTS program_version_no_update",
        "DROP TRIGGER IF EXISTS program_version_no_delete",
    ],
    "postgresql": [f"DROP TRIGGER IF EXISTS program_version_immutable ON {TABLE}"],
}


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("programs", "0001_initial")]

    operations = [migrations.RunPython(_run(CREATE), _run(DROP))]
