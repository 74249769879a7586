"""The authentication backend: allauth's (username or email, then its MFA stage), loading the
signed-in user with what every staff request asks about them, in the same query.

Every desk page needs the user's teams (``access.policy.team_ids``: which queues and referrals
they may see) and whether they hold a TOTP authenticator (``RequireMFAMiddleware``). Loaded
apart, those are two more queries on every page; as subqueries of the user's row they cost none
(bench/desk_queue.py: the queue page went from 14 queries to 8 with this and the one-statement
page). They are read once per request: the user object lives as long as the request.
"""

from __future__ import annotations

from allauth.account.auth_backends import AuthenticationBackend
from allauth.mfa.models import Authenticator
from django.db.models import CharField, Exists, OuterRef, StringAgg, Subquery, Value
from django.db.models.functions import Cast

from refdesk.accounts.models import TeamMembership, User

# Attributes set on the loaded user; their readers fall back to a query when absent.
TEAM_IDS_ATTR = "_policy_team_ids"  # refdesk.access.policy.team_ids
HAS_TOTP_ATTR = "_has_totp"  # refdesk.accounts.middleware.RequireMFAMiddleware


def user_with_request_facts(user_id) -> User | None:
    """The user with the facts above attached, or None."""
    teams = (
        TeamMembership.objects.filter(user_id=OuterRef("pk"))
        .order_by()
        .values("user_id")
        .annotate(ids=StringAgg(Cast("team_id", CharField()), delimiter=Value(",")))
        .values("ids")
    )
    totp = Authenticator.objects.filter(user_id=OuterRef("pk"), type=Authenticator.Type.TOTP)
    user = (
        User._default_manager.filter(pk=user_id)
        .annotate(
            request_team_ids=Subquery(teams),
            request_has_totp=Exists(totp),
        )
        .first()
    )
    if user is None:
        return None
    ids = user.request_team_ids or ""
    setattr(user, TEAM_IDS_ATTR, frozenset(int(part) for part in ids.split(",") if part))
    setattr(user, HAS_TOTP_ATTR, bool(user.request_has_totp))
    return user


class StaffAuthenticationBackend(AuthenticationBackend):
    """allauth's backend; ``get_user`` (each request's user) loads the request facts along."""

    def get_user(self, user_id):
        user = user_with_request_facts(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
