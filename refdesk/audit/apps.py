from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "refdesk.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self):
        from django.db.models.signals import post_migrate

        # Once per `migrate` run (the signal is sent per app: this app's only).
        post_migrate.connect(_record_migrate, sender=self, dispatch_uid="refdesk.audit.migrated")


def _record_migrate(sender, plan=None, **kwargs):
    from refdesk.audit.deployment import deployment_record_migrate

    deployment_record_migrate(applied=len(plan or []))
