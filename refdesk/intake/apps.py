from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "refdesk.intake"
    label = "intake"
    verbose_name = "Intake"
