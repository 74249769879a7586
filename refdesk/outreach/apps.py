from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "refdesk.outreach"
    label = "outreach"
    verbose_name = "Outreach"
