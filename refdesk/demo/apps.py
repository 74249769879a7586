from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "refdesk.demo"
    label = "demo"
    verbose_name = "Demo data"
