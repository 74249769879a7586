from django.apps import AppConfig


class KeysConfig(AppConfig):
    """Field-encryption key rotation (``refdesk keys``), and backups with the fingerprints of
    the keys they need (``backup``). Above ``audit``: every rotated batch and every backup is an
    audit event, and ``core`` (the base everything imports) must import no app."""

    name = "refdesk.keys"
    label = "keys"
    verbose_name = "Encryption keys"
