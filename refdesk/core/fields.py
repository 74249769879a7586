"""Encrypted model fields: the column holds a Fernet token, Python code sees the clear value.

Encrypted columns cannot be filtered on (the token differs each time); search uses the blind index.
"""

from __future__ import annotations

from django.db import models

from refdesk.core import crypto


class EncryptedTextField(models.TextField):
    description = "Text encrypted at rest with MultiFernet"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return crypto.decrypt_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt_text(str(value))

    def get_lookup(self, lookup_name):
        # Only isnull makes sense on ciphertext; anything else would silently never match.
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None


class EncryptedJSONField(models.TextField):
    """A JSON document (dict/list) encrypted as one token."""

    description = "JSON encrypted at rest with MultiFernet"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        return crypto.decrypt_json(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        return crypto.encrypt_json(value)

    def value_to_string(self, obj):
        return "<encrypted>"

    def get_lookup(self, lookup_name):
        return super().get_lookup(lookup_name) if lookup_name == "isnull" else None
