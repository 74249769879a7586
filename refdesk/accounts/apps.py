from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "refdesk.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"
