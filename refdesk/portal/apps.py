from django.apps import AppConfig


class PortalConfig(AppConfig):
    """What referrers use: the intake form ``/r/<code>``, its confirmation, the completion link,
    the status page ``/r/status/<token>`` and bulk upload (``refdesk intake import``). An
    interface: it parses, calls the workflow and renders; ``intake`` holds the rules."""

    name = "refdesk.portal"
    label = "portal"
    verbose_name = "Referrer portal"
