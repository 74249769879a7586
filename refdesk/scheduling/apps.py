from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "refdesk.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"
