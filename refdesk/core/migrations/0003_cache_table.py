"""The database cache's table, made by `migrate` so that no deployment step is left to forget.

The same table `refdesk createcachetable` makes (Django's DatabaseCache schema), created whether
or not the database cache is configured now, so switching REFDESK_CACHE to `database` later
needs nothing more. Skipped when it exists (made by hand on an older release).
"""

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "refdesk_cache"


def create_cache_table(apps, schema_editor):
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


def drop_cache_table(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("core", "0002_rate_counters")]

    operations = [migrations.RunPython(create_cache_table, drop_cache_table)]
