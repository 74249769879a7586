from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "refdesk.core"
    label = "core"
