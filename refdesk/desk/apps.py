from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "refdesk.desk"
    label = "desk"
    verbose_name = "Staff console"
