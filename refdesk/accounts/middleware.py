"""Session guards for staff: idle timeout, deactivation, and mandatory MFA enrolment.

Both run after Django's AuthenticationMiddleware and allauth's AccountMiddleware.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from refdesk.accounts.auth_audit import SESSION_END_ATTR
from refdesk.accounts.backends import HAS_TOTP_ATTR
from refdesk.accounts.mfa import has_authenticator
from refdesk.accounts.models import User
from refdesk.accounts.selectors import user_timezone

LAST_SEEN_KEY = "refdesk.last_seen"


class SessionGuardMiddleware:
    """Ends a staff session after ``REFDESK_SESSION_IDLE_MINUTES`` without a request, and at the
    first request after the user was deactivated.

    Django's backend already refuses an inactive user (``request.user`` becomes anonymous), but
    leaves the session in place; flushing it means reactivating the account does not revive an
    old session. Each ending is audited (``auth.session_expired`` / ``auth.session_revoked``,
    through the ``user_logged_out`` receiver, which reads the reason left on the request).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.session.get(SESSION_KEY) is not None:
            self._guard(request)
        return self.get_response(request)

    def _guard(self, request) -> None:
        if not request.user.is_authenticated:
            # Deactivated since the last request (or gone). The backend no longer loads the
            # user, so name them from the session for the audit event. (A password changed
            # elsewhere never gets here: Django flushes the session itself on the hash check;
            # the change is audited as auth.password_changed.)
            user = User.objects.filter(pk=request.session.get(SESSION_KEY)).first()
            if user is not None:
                reason = "deactivated" if not user.is_active else "refused_by_backend"
                setattr(request, SESSION_END_ATTR, (reason, user))
            logout(request)
            return
        now = timezone.now().timestamp()
        # Stamped at sign-in (session_clock_start) and at every request after it, so the idle
        # time is measured from the last request, to the second; a session without the stamp
        # predates it.
        last_seen = request.session.get(LAST_SEEN_KEY)
        if last_seen is not None and now - last_seen > settings.REFDESK_SESSION_IDLE_MINUTES * 60:
            setattr(request, SESSION_END_ATTR, ("idle_timeout", request.user))
            logout(request)
            return
        # Every signed-in request writes the session (staff traffic is small): a stamp kept
        # only once a minute would let a session live up to a minute past its idle limit. Each
        # write also slides the stored session's and the cookie's expiry (SESSION_COOKIE_AGE).
        request.session[LAST_SEEN_KEY] = now


def session_clock_start(sender, request, user, **kwargs) -> None:
    """Django's ``user_logged_in`` (every sign-in, allauth's and ``force_login``): the idle
    clock starts now, so a session left alone right after signing in ends in time too."""
    if request is not None and hasattr(request, "session"):
        request.session[LAST_SEEN_KEY] = timezone.now().timestamp()


@cache
def _enrolment_paths() -> tuple[str, ...]:
    """Where a signed-in user without an authenticator may still go: enrol, re-enter the
    password when allauth asks, or leave."""
    return (
        reverse("mfa_index"),  # /accounts/2fa/: TOTP activation and recovery codes
        reverse("account_reauthenticate"),
        reverse("account_logout"),
        reverse("account_login"),
        settings.STATIC_URL,
    )


class RequireMFAMiddleware:
    """Deny by default: a signed-in user without a TOTP authenticator reaches nothing but the
    enrolment pages.

    Having an authenticator is enough here because every login path (allauth's login page; the
    admin login redirects there) asks for the second factor from users who have one.
    ``REFDESK_MFA_REQUIRED`` is off only in the test environment (see settings).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            settings.REFDESK_MFA_REQUIRED
            and request.user.is_authenticated
            and not request.path.startswith(_enrolment_paths())
            and not _has_totp(request.user)
        ):
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        return self.get_response(request)


def _has_totp(user) -> bool:
    # Loaded with the user by StaffAuthenticationBackend (no query); else asked now.
    known = getattr(user, HAS_TOTP_ATTR, None)
    return has_authenticator(user) if known is None else known


class UserTimezoneMiddleware:
    """Shows a signed-in user's times in their zone: activates ``user_timezone`` for the
    request (templates' ``date`` filter and ``localtime`` follow it). No query: the user is
    already loaded. Anonymous requests keep the default zone (UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(user_timezone(user))
            try:
                return self.get_response(request)
            finally:
                timezone.deactivate()
        return self.get_response(request)
