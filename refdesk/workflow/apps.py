from django.apps import AppConfig


class WorkflowConfig(AppConfig):
    name = "refdesk.workflow"
    label = "workflow"
    verbose_name = "Referral lifecycle"
