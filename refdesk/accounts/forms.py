"""allauth's second-factor forms, with the lockout audited (``MFA_FORMS`` in settings).

allauth refuses a code once the user has failed too often (``check_rate_limit``) without
sending a signal; this is where that refusal is seen.
"""

from __future__ import annotations

from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from django.core.exceptions import ValidationError

from refdesk.accounts import auth_audit

LOCKED_OUT = "too_many_login_attempts"


class _AuditLockout:
    def clean_code(self) -> str:
        try:
            return super().clean_code()
        except ValidationError as error:
            if error.code == LOCKED_OUT:
                auth_audit.locked_out_record(request=context.request, user=self.user)
            raise


class StaffAuthenticateForm(_AuditLockout, AuthenticateForm):
    pass


class StaffReauthenticateForm(_AuditLockout, ReauthenticateForm):
    pass
