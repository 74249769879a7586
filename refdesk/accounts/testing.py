"""Test helpers for signing in staff the way production requires (with an authenticator)."""

from __future__ import annotations

from allauth.mfa.totp.internal.auth import generate_totp_secret

from refdesk.accounts.mfa import has_authenticator, user_totp_provision


def login_with_mfa(client, user) -> None:
    """Sign ``user`` in on ``client`` past RequireMFAMiddleware: give them a TOTP authenticator
    (if they have none) and log in. For view tests; the login flow itself is tested with real
    codes in refdesk/accounts/tests."""
    if not has_authenticator(user):
        user_totp_provision(user=user, secret=generate_totp_secret(), actor="system:test")
    client.force_login(user)
