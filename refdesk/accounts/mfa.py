"""MFA helpers on top of allauth.mfa: the enrolment check and provisioning a known TOTP secret."""

from __future__ import annotations

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.db import transaction

from refdesk.accounts.models import User
from refdesk.audit.services import audit_record


def has_authenticator(user: User) -> bool:
    """True when the user can pass the second factor (TOTP; recovery codes only back it up)."""
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


@transaction.atomic
def user_totp_provision(*, user: User, secret: str, actor) -> bool:
    """Give ``user`` a TOTP authenticator with ``secret`` (base32) unless they have one.

    For set-ups where the secret is handed over out of band (the demo prints it); real users
    enrol themselves at first login. Returns whether an authenticator was created.
    """
    if has_authenticator(user):
        return False
    TOTP.activate(user, secret)
    audit_record(actor=actor, action="user.mfa_provisioned", subject=user, changes={})
    return True


def totp_uri(*, user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app imports (the QR code's content)."""
    return get_adapter().build_totp_url(user, secret)
