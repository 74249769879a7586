from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "refdesk.consent"
    label = "consent"
    verbose_name = "Consent"
