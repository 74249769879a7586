from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who may see which queues and referrals, which lead fields, and take which actions: the
    policy (``access.policy``) and the one access helper per protected object
    (``access.selectors``). Above accounts, intake and routing, whose objects it guards."""

    name = "refdesk.access"
    label = "access"
    verbose_name = "Access policy"
