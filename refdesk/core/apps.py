from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "refdesk.core"
    label = "core"

    def ready(self):
        from refdesk.core import checks  # noqa: F401  (registers the deployment checks)
