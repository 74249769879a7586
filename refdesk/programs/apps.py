from django.apps import AppConfig


class ProgramsConfig(AppConfig):
    name = "refdesk.programs"
    label = "programs"
    verbose_name = "Programs"
