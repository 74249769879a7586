"""Assignment: who works a queued referral. ``referral_assign`` and ``referral_claim``.

Fair by construction: the least-loaded active, available member of the queue's team whose role
may work the lead (``assignee_roles``: never a supervisor or auditor who is also in the
team, never a commercial rep for a patient lead) gets the next referral. Load is the number of
open referrals assigned to a person; ties go in turn (the member whose last automatic
assignment is oldest first, then the earliest account), so equal members take turns. Away
members (``TeamMembership.available = False``) and deactivated users are never chosen; with
nobody left, the referral waits in its queue unassigned and is counted by
``unassigned_counts_by_queue``. A supervisor may also give a referral to a member they choose
(``routing.handover``), under the same rule.
"""

from __future__ import annotations

from functools import cache

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from refdesk.accounts.models import User
from refdesk.accounts.roles import assignee_roles
from refdesk.audit.services import audit_record
from refdesk.core import sql
from refdesk.core.errors import InvalidTransition, PermissionDenied
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral

# Stages in which an assigned referral still takes its owner's time.
LOAD_STAGES = (Stage.QUEUED, Stage.IN_PROGRESS, Stage.SCHEDULED, Stage.AWAITING_REVIEW)


# Runs on every intake: SQL written once (per kind of lead). Each member's open load is a seek on
# the (assigned_to, stage) index, so it stays cheap however many referrals the desk holds.
_CANDIDATES = (
    "SELECT m.user_id, u.username FROM accounts_teammembership m "
    "JOIN accounts_user u ON u.id = m.user_id "
    "WHERE m.team_id = %s AND m.available = %s AND u.is_active = %s AND u.role IN ({roles}) "
    "ORDER BY (SELECT COUNT(*) FROM intake_referral r "
    "WHERE r.assigned_to_id = m.user_id AND r.stage IN ({stages})), "
    "m.last_assigned_at IS NOT NULL, m.last_assigned_at, m.user_id"
)


@cache
def _candidates_query(lead_kind: str) -> tuple[str, list]:
    """The candidates' SQL for this kind of lead and its parameters after the team id."""
    roles = sorted(assignee_roles(lead_kind=lead_kind))
    sql_text = _CANDIDATES.format(
        roles=", ".join(["%s"] * len(roles)), stages=", ".join(["%s"] * len(LOAD_STAGES))
    )
    return sql_text, [True, True, *roles, *LOAD_STAGES]


def _candidate_rows(team_id: int, lead_kind: str, *, limit: int | None = None) -> list[tuple]:
    sql_text, params = _candidates_query(lead_kind)
    with connection.cursor() as cursor:
        cursor.execute(sql_text + (f" LIMIT {int(limit)}" if limit else ""), [team_id, *params])
        return cursor.fetchall()


def assignment_candidates(queue, *, lead_kind: str) -> list[User]:
    """The queue team's active, available members who may work such a lead, best first.

    Order: fewest open referrals assigned, then the one whose last automatic assignment in this
    team is oldest (never assigned first), so equal members take turns; then the oldest account,
    so the choice is deterministic.
    """
    ids = [row[0] for row in _candidate_rows(queue.team_id, lead_kind)]
    if not ids:
        return []
    users = User.objects.in_bulk(ids)
    return [users[pk] for pk in ids if pk in users]


# No savepoint: conditional UPDATEs, nothing to undo partially (and intake calls it).
@transaction.atomic(savepoint=False)
def referral_assign(*, referral: Referral, actor) -> User | None:
    """Give a queued, unassigned referral to the least-loaded available member of its queue's
    team; returns them, or None when nobody is available (it then waits in the queue).

    The write is ``UPDATE ... WHERE assigned_to IS NULL AND stage = 'queued'``: a concurrent
    assignment or claim wins cleanly and this call returns None.
    """
    if referral.stage != Stage.QUEUED or referral.assigned_to_id or referral.queue_id is None:
        return None
    rows = _candidate_rows(referral.queue.team_id, referral.lead_kind, limit=1)
    if not rows:
        return None
    row = rows[0]
    user_id, now = row[0], timezone.now()
    updated = sql.update(
        referral,
        {"assigned_to": user_id, "updated_at": now},
        where={"stage": Stage.QUEUED, "assigned_to": None, "queue": referral.queue_id},
    )
    if updated != 1:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_teammembership SET last_assigned_at = %s "
            "WHERE team_id = %s AND user_id = %s",
            [
                connection.ops.adapt_datetimefield_value(now),
                referral.queue.team_id,
                user_id,
            ],
        )
    user = referral.assigned_to = sql.loaded(User, id=user_id, username=row[1])
    audit_record(
        actor=actor,
        action="referral.assigned",
        subject=referral,
        changes={"assigned_to": (None, user.username), "queue": (None, referral.queue.slug)},
    )
    return user


@transaction.atomic
def referral_claim(*, referral: Referral, user: User) -> Referral:
    """The user starts working a queued referral: ``queued`` -> ``in_progress``, assigned to them.

    A referral assigned to someone else cannot be claimed (re-route or re-assign it first);
    two people claiming at once: one wins, the other gets ``InvalidTransition``.
    """
    if not user.is_active:
        raise PermissionDenied("an inactive user cannot claim work", code="user_inactive")
    if referral.stage != Stage.QUEUED:
        raise InvalidTransition(f"a referral in {referral.stage} cannot be claimed")
    if referral.assigned_to_id not in (None, user.pk):
        raise InvalidTransition("this referral is assigned to someone else", code="assigned")
    updated = (
        Referral.objects.filter(pk=referral.pk, stage=Stage.QUEUED)
        .filter(Q(assigned_to__isnull=True) | Q(assigned_to=user))
        .update(stage=Stage.IN_PROGRESS, assigned_to=user, updated_at=timezone.now())
    )
    if updated != 1:
        raise InvalidTransition("the referral changed meanwhile; reload and try again")
    old_assignee = referral.assigned_to.username if referral.assigned_to_id else None
    audit_record(
        actor=user,
        action="referral.claimed",
        subject=referral,
        changes={
            "stage": (Stage.QUEUED, Stage.IN_PROGRESS),
            "assigned_to": (old_assignee, user.username),
        },
    )
    referral.stage, referral.assigned_to = Stage.IN_PROGRESS, user
    return referral
