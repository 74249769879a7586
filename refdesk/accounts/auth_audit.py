"""Audit events for staff sign-in and sign-out: who got in and how, who failed, which login names
were locked, and how each session ended.

Signing in is allauth's and Django's flow, not a refdesk service, so these events are written
from their signals and adapter hooks — the one place where refdesk audits from signals. The
house rule against it is about writes that bypass signals (bulk updates, work outside a
request); sign-in and sign-out only ever happen inside a request, through these very hooks.
Each hook calls one function below, which writes its event at once.

=====================  ======================  ===============================  ==============
action                 actor                   subject                          changes
=====================  ======================  ===============================  ==============
auth.login_succeeded   the user                the user                         factors, client
auth.login_failed      ``anonymous`` (or the   ``login:<fingerprint of the      step, client
                       user re-authenticating) name as typed>``
auth.mfa_failed        ``anonymous`` (or the   the user (the password was       step, client
                       user re-authenticating) right)
auth.locked_out        ``anonymous`` (or the   the name's fingerprint; the      step, client
                       user re-authenticating) user at the second factor
auth.logged_out        the user                the user                         client
auth.session_expired   the user                the user                         idle_minutes
auth.session_revoked   system:session-guard    the user                         reason
auth.password_changed  the user (``anonymous`` the user                         how, client
                       for a reset by link)
=====================  ======================  ===============================  ==============

What an inspector gets: every success with the factors used (``password`` + ``totp``, or a
``recovery_codes`` login worth a question), every failure and lockout, every session end with
its cause, each tied to a request id and a client. What is never written: passwords, codes, and
the login name as typed — an unknown name is often someone's password typed in the wrong box, or
another person's address. The name appears only as a keyed fingerprint
(``login_fingerprint``): the same name always gives the same value, so failures against one
name can be counted, and an inspector who knows a name can compute its fingerprint to find its
failures, while the trail itself lists no names that were tried. Whether the name belongs to an
account is not recorded either. The client address is a keyed fingerprint too (correlation
without keeping staff or visitors' addresses in an undeletable trail).

A lockout is recorded once per login name (or user) and client per window, not at every
refused attempt, so a flood of refused attempts cannot flood the trail.
"""

from __future__ import annotations

from django.core.cache import cache

from refdesk.audit.services import audit_record
from refdesk.core.crypto import fingerprint
from refdesk.core.ratelimit import client_address, limit_from_settings
from refdesk.settings.rate_limits import SCOPES

ANONYMOUS = "anonymous"
SESSION_GUARD = "system:session-guard"
# Set on the request by SessionGuardMiddleware before it ends a session, read by the
# user_logged_out receiver: (reason, user).
SESSION_END_ATTR = "_refdesk_session_end"


def login_fingerprint(login: str) -> str:
    """The keyed fingerprint of a login name (username or email; case and surrounding space do
    not matter, as for allauth's login)."""
    return fingerprint(f"login:{(login or '').strip().lower()}")


def login_name(credentials: dict) -> str:
    """The name a login attempt used, picked like allauth's rate-limit key (email first)."""
    return str(credentials.get("email") or credentials.get("username") or "")


def _client(request) -> str | None:
    return fingerprint(client_address(request)) if request is not None else None


def _signed_in_user(request):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _step(request) -> str:
    return "reauthentication" if _signed_in_user(request) else "login"


def login_succeeded_record(*, request, user, factors: list[str], mfa_pending: bool) -> None:
    changes = {"factors": (None, factors), "client": (None, _client(request))}
    if mfa_pending:
        # No authenticator yet: RequireMFAMiddleware confines the session to MFA enrolment.
        changes["confined_to_mfa_enrolment"] = (None, True)
    audit_record(actor=user, action="auth.login_succeeded", subject=user, changes=changes)


def login_failed_record(*, request, login: str) -> None:
    actor = _signed_in_user(request) or ANONYMOUS
    audit_record(
        actor=actor,
        action="auth.login_failed",
        subject=("login", login_fingerprint(login)),
        changes={"step": (None, _step(request)), "client": (None, _client(request))},
    )


def mfa_failed_record(*, request, user, reauthentication: bool) -> None:
    actor = user if reauthentication else ANONYMOUS
    step = "reauthentication" if reauthentication else "login"
    audit_record(
        actor=actor,
        action="auth.mfa_failed",
        subject=user,
        changes={"step": (None, step), "client": (None, _client(request))},
    )


def locked_out_record(*, request, login: str | None = None, user=None) -> None:
    """A refused attempt because of too many failures: by login name at the password step,
    by user at the second factor. Recorded once per name (or user) and client per window."""
    subject = user if user is not None else ("login", login_fingerprint(login or ""))
    key_part = f"user:{user.pk}" if user is not None else subject[1]
    client = _client(request)
    step = "second_factor" if user is not None else "password"
    # As long as the lockout's window (refdesk.accounts.lockout), so once per locked window.
    scope = "login.user" if user is not None else "login.name"
    window = limit_from_settings(scope, SCOPES[scope].default).window
    if not cache.add(f"refdesk:lockout-audited:{step}:{key_part}:{client}", 1, timeout=window):
        return
    audit_record(
        actor=_signed_in_user(request) or ANONYMOUS,
        action="auth.locked_out",
        subject=subject,
        changes={"step": (None, step), "client": (None, client)},
    )


def session_ended_record(*, request, user, reason: str, idle_minutes: int | None = None) -> None:
    """A session ended: the user signed out, it sat idle too long, or the account was
    deactivated (noticed at the session's next request)."""
    if reason == "idle_timeout":
        audit_record(
            actor=user,
            action="auth.session_expired",
            subject=user,
            changes={"idle_minutes": (None, idle_minutes)},
        )
    elif reason == "logout":
        audit_record(
            actor=user,
            action="auth.logged_out",
            subject=user,
            changes={"client": (None, _client(request))},
        )
    else:
        audit_record(
            actor=SESSION_GUARD,
            action="auth.session_revoked",
            subject=user,
            changes={"reason": (None, reason)},
        )


def password_changed_record(*, request, user, how: str) -> None:
    """The password was changed, set for the first time, or reset by an emailed link (the
    sessions it signed in stop working: Django checks each session's password hash)."""
    # A change or a first password is the signed-in user's own act (allauth may already have
    # signed them out when it says so); a reset is whoever holds the emailed link.
    audit_record(
        actor=user if how in ("changed", "set") else ANONYMOUS,
        action="auth.password_changed",
        subject=user,
        changes={"how": (None, how), "client": (None, _client(request))},
    )
