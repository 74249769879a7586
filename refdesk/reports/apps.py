from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Metrics, rollups, the monthly review pack and its exports (and the pack's templates)."""

    name = "refdesk.reports"
    label = "reports"
    verbose_name = "Reports"
