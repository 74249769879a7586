"""MFA helpers on top of allauth.mfa: the enrolment check, provisioning a known TOTP secret, and
the authenticators' encrypted tokens for field-key rotation."""

from __future__ import annotations

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.db import transaction

from refdesk.accounts.models import User
from refdesk.audit.services import Actor, audit_record
from refdesk.keys.keyring import EmbeddedTokens, register_embedded_tokens


def has_authenticator(user: User) -> bool:
    """True when the user can pass the second factor (TOTP; recovery codes only back it up)."""
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


@transaction.atomic
def user_totp_provision(*, user: User, secret: str, actor: Actor) -> bool:
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


# --- field-key rotation ---------------------------------------------------------------------
# The adapter (StaffMFAAdapter) encrypts, inside Authenticator.data: a TOTP authenticator's
# "secret" and a recovery-code set's "seed" (and "migrated_codes", codes imported from
# django-allauth-2fa). "used_mask" and WebAuthn data are not secret and stay as they are.
_TOKEN_KEYS = ("secret", "seed")


def authenticator_tokens(data: dict) -> list[str]:
    tokens = [data[key] for key in _TOKEN_KEYS if isinstance(data.get(key), str)]
    codes = data.get("migrated_codes")
    if isinstance(codes, list):
        tokens += [code for code in codes if isinstance(code, str)]
    return tokens


def authenticator_tokens_replace(data: dict, replace) -> dict:
    result = dict(data)
    for key in _TOKEN_KEYS:
        if isinstance(result.get(key), str):
            result[key] = replace(result[key])
    if isinstance(result.get("migrated_codes"), list):
        result["migrated_codes"] = [replace(code) for code in result["migrated_codes"]]
    return result


MFA_TOKENS = EmbeddedTokens(
    label="mfa.Authenticator.data",
    queryset=lambda: Authenticator.objects.filter(
        type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
    ),
    field="data",
    tokens=authenticator_tokens,
    replace=authenticator_tokens_replace,
)


def register_mfa_tokens() -> None:
    """TOTP secrets and recovery-code seeds follow ``refdesk keys rotate`` / ``keys status``
    (called once the apps are loaded: ``AccountsConfig.ready``)."""
    register_embedded_tokens(MFA_TOKENS)
