from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "refdesk.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self):
        from refdesk.accounts import receivers

        receivers.connect()  # sign-in and sign-out audit events
