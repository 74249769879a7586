"""allauth adapters: how staff login differs from allauth's defaults.

- No self-service signup: administrators create staff accounts (``user_create``).
- MFA is mandatory, so a user cannot remove their own authenticator; an administrator deletes it
  in the admin and the user enrols again at the next login.
- TOTP secrets and recovery-code seeds are stored encrypted with the field keys, like patient data
  (a database dump alone must not let anyone mint codes).
"""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.core.exceptions import ValidationError

from refdesk.accounts.auth_audit import locked_out_record, login_name
from refdesk.core.crypto import decrypt_text, encrypt_text


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth refuses a locked login name here, before any password is checked (and
        without a signal): audit the lockout, never the credentials."""
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError as error:
            if error.code == "too_many_login_attempts":
                locked_out_record(request=request, login=login_name(credentials))
            raise


class StaffMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return encrypt_text(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_text(encrypted_text)

    def can_delete_authenticator(self, authenticator) -> bool:
        return False
