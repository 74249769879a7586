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

from refdesk.accounts import lockout
from refdesk.accounts.auth_audit import locked_out_record, login_name
from refdesk.core.crypto import decrypt_text, encrypt_text
from refdesk.core.ratelimit import RateLimited


class StaffAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def pre_authenticate(self, request, **credentials) -> None:
        """Count the attempt in refdesk's exact counters before any password is checked
        (``refdesk.accounts.lockout``; allauth's cache-kept limit is off) and refuse a locked
        address or name, auditing the lockout, never the credentials. allauth's
        ``authenticate`` calls ``rollback()`` on what is kept here when the password is right."""
        super().pre_authenticate(request, **credentials)  # allauth's login_failed: off, a no-op
        try:
            self._login_failed_rl_usage = lockout.password_attempt(request, login_name(credentials))
        except RateLimited:
            self._login_failed_rl_usage = None
            locked_out_record(request=request, login=login_name(credentials))
            raise self.validation_error("too_many_login_attempts") from None

    def _delete_login_attempts_cached_email(self, request, **credentials) -> None:
        """A password reset by emailed link clears the failures of the address's login name."""
        super()._delete_login_attempts_cached_email(request, **credentials)
        lockout.name_clear(login_name(credentials))


class StaffMFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return encrypt_text(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_text(encrypted_text)

    def can_delete_authenticator(self, authenticator) -> bool:
        return False
