from django.apps import AppConfig


class ReferrersConfig(AppConfig):
    name = "refdesk.referrers"
    label = "referrers"
    verbose_name = "Referrers"
