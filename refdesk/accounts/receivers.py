"""Receivers turning allauth's and Django's authentication signals into audit events (see
``auth_audit`` for what each event holds and why signals here). Connected once, in
``AccountsConfig.ready``."""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.account.signals import password_changed, password_reset, password_set, user_logged_in
from allauth.mfa.signals import authentication_failed
from django.conf import settings
from django.contrib.auth import signals as django_auth
from django.contrib.auth.signals import user_logged_out, user_login_failed

from refdesk.accounts import auth_audit
from refdesk.accounts.mfa import has_authenticator
from refdesk.accounts.middleware import session_clock_start


def _factors(request, user) -> list[str]:
    """The factors of this sign-in, in order: ``password``, then ``totp`` or
    ``recovery_codes`` (allauth's authentication records; no secrets are in them that we keep)."""
    factors: list[str] = []
    for record in get_authentication_records(request, user):
        if record.get("reauthenticated"):
            continue
        method = record.get("method")
        factor = record.get("type") if method == "mfa" else method
        if factor and factor not in factors:
            factors.append(str(factor))
    return factors


def on_logged_in(sender, request, user, **kwargs) -> None:
    """allauth's signal: sent once every stage (the second factor included) is passed."""
    auth_audit.login_succeeded_record(
        request=request,
        user=user,
        factors=_factors(request, user),
        mfa_pending=settings.REFDESK_MFA_REQUIRED and not has_authenticator(user),
    )


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """Django's signal: every backend refused the credentials (the password is already
    replaced by asterisks; only the login name is used, and only as a fingerprint)."""
    auth_audit.login_failed_record(request=request, login=auth_audit.login_name(credentials))


def on_mfa_failed(sender, request, user, reauthentication=False, **kwargs) -> None:
    auth_audit.mfa_failed_record(request=request, user=user, reauthentication=reauthentication)


def on_logged_out(sender, request, user, **kwargs) -> None:
    """Django's signal, for a sign-out and for SessionGuardMiddleware ending a session (it
    leaves the reason, and the user when the account is no longer active, on the request)."""
    reason, flagged_user = getattr(request, auth_audit.SESSION_END_ATTR, ("logout", None))
    user = user if user is not None and user.is_authenticated else flagged_user
    if user is None:
        return  # nobody was signed in
    auth_audit.session_ended_record(
        request=request,
        user=user,
        reason=reason,
        idle_minutes=settings.REFDESK_SESSION_IDLE_MINUTES if reason == "idle_timeout" else None,
    )


def on_password_changed(sender, request, user, **kwargs) -> None:
    """allauth's password change, first password and reset-by-link (never the password)."""
    auth_audit.password_changed_record(
        request=request, user=user, how=PASSWORD_HOW[kwargs["signal"]]
    )


PASSWORD_HOW = {password_changed: "changed", password_set: "set", password_reset: "reset"}


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="refdesk.audit.login")
    user_login_failed.connect(on_login_failed, dispatch_uid="refdesk.audit.login_failed")
    authentication_failed.connect(on_mfa_failed, dispatch_uid="refdesk.audit.mfa_failed")
    user_logged_out.connect(on_logged_out, dispatch_uid="refdesk.audit.logout")
    for signal in PASSWORD_HOW:
        signal.connect(on_password_changed, dispatch_uid="refdesk.audit.password")
    # Not an audit event: every sign-in starts the session's idle clock.
    django_auth.user_logged_in.connect(session_clock_start, dispatch_uid="refdesk.session_clock")
