from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "refdesk.audit"
    label = "audit"
    verbose_name = "Audit trail"
