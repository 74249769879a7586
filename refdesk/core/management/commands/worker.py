"""``refdesk worker``: a task worker (django-tasks-db). Run any number of them on PostgreSQL."""

from django_tasks_db.management.commands.db_worker import Command as DatabaseWorkerCommand


class Command(DatabaseWorkerCommand):
    help = "Run a background task worker (any number may run against PostgreSQL)."
