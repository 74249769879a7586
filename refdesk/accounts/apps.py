from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "refdesk.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self):
        from refdesk.accounts import receivers
        from refdesk.accounts.mfa import MFA_TOKENS
        from refdesk.keys.keyring import register_embedded_tokens

        receivers.connect()  # sign-in and sign-out audit events
        # TOTP secrets and recovery-code seeds follow `refdesk keys rotate` / `keys status`.
        register_embedded_tokens(MFA_TOKENS)
