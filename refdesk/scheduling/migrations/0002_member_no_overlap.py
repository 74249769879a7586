"""No two booked appointments of one member overlap, enforced by PostgreSQL itself.

An exclusion constraint over (member, [starts_at, blocked_until)) for booked rows, with the
``btree_gist`` extension so the member's id can share the GiST index with the time range. Two
bookings that both passed the availability check cannot both commit: the second one's INSERT
(or UPDATE, for a reschedule) fails, and the booking service turns that into "that time was
just taken". SQLite has no exclusion constraints: there the service's check runs inside the
one serialised writer transaction (BEGIN IMMEDIATE), which no other booking can interleave.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE scheduling_appointment
    ADD CONSTRAINT appointment_member_no_overlap
    EXCLUDE USING gist (member_id WITH =, tstzrange(starts_at, blocked_until, '[)') WITH &&)
    WHERE (status = 'booked');
"""
DROP = "ALTER TABLE scheduling_appointment DROP CONSTRAINT appointment_member_no_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_appointments")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
