from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Metrics, the monthly review pack and its exports. Installed for its templates (the
    pack's printable HTML); it has no models."""

    name = "refdesk.reports"
    label = "reports"
    verbose_name = "Reports"
