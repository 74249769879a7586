from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """How program versions come into force and are checked before they do: ``program apply``
    (with the teams, queues and sources a version declares) and ``program simulate``. Above the
    domain apps it configures, so ``programs`` itself (schema, engine, versions) stays at the
    bottom of the app graph."""

    name = "refdesk.governance"
    label = "governance"
    verbose_name = "Program governance"
