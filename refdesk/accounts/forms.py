"""allauth's second-factor forms, with the lockout counted by refdesk and audited (``MFA_FORMS``
in settings).

allauth's own check (``check_rate_limit``, its "login_failed" limit kept in the cache) is off;
each code is counted here first, exactly (``refdesk.accounts.lockout``), and a locked account
is refused — and the lockout audited — before the code is looked at.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from allauth.mfa.totp.forms import ActivateTOTPForm

from refdesk.accounts import auth_audit, lockout
from refdesk.core.ratelimit import RateLimited

LOCKED_OUT = "too_many_login_attempts"


class _CountedCode:
    def clean_code(self) -> str:
        try:
            attempt = lockout.second_factor_attempt(context.request, self.user)
        except RateLimited:
            auth_audit.locked_out_record(request=context.request, user=self.user)
            raise get_account_adapter().validation_error(LOCKED_OUT) from None
        code = super().clean_code()  # a wrong code raises: the attempt stays counted
        attempt.rollback()
        return code


class StaffAuthenticateForm(_CountedCode, AuthenticateForm):
    pass


class StaffReauthenticateForm(_CountedCode, ReauthenticateForm):
    pass


class StaffActivateTOTPForm(ActivateTOTPForm):
    """Enrolment: the first code from a new authenticator, counted against the account like a
    second factor (allauth's check for it used the same, now disabled, limit)."""

    def clean_code(self) -> str:
        try:
            attempt = lockout.second_factor_attempt(context.request, self.user)
        except RateLimited:
            raise get_account_adapter().validation_error("rate_limited") from None
        code = super().clean_code()
        attempt.rollback()
        return code
