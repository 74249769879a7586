from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "refdesk.reports"
    label = "reports"
    verbose_name = "Reports"
