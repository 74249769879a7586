from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "refdesk.routing"
    label = "routing"
    verbose_name = "Routing"
