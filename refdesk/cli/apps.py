from django.apps import AppConfig


class CliConfig(AppConfig):
    """Commands that act on referrals through the workflow (``refdesk consent expire``), and the
    operator's ``refdesk backup`` / ``restore`` (their logic: ``refdesk.keys.backup``). An
    interface: apps below the workflow keep their own read-only or configuration commands."""

    name = "refdesk.cli"
    label = "cli"
    verbose_name = "Command line"
