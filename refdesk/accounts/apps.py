from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "refdesk.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self):
        # Models are importable only now (this app's own modules; never another app's).
        from refdesk.accounts import mfa, receivers

        receivers.connect()  # sign-in and sign-out audit events
        mfa.register_mfa_tokens()
