from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "refdesk.api"
    label = "api"
    verbose_name = "Partner API"
