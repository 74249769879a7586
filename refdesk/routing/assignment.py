"""Who should work a queued referral: ``assignment_next`` picks, the workflow assigns.

Fair by construction: the least-loaded active, available member of the queue's team whose role
may work the lead (``accounts.roles.assignee_roles``: never a supervisor or auditor who is also
in the team, never a commercial rep for a patient lead) gets the next referral. Load is the
number of open referrals assigned to a person; ties go in turn (the member whose last automatic
assignment is oldest first, then the earliest account), so equal members take turns. Away
members (``TeamMembership.available = False``) and deactivated users are never chosen; with
nobody left, the referral waits in its queue unassigned and is counted by
``unassigned_counts_by_queue``. A supervisor may also give a referral to a member they choose
(``workflow.assignment.referral_assign_to``), under the same rule
(``routing.selectors.assignee_eligible``).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection

from refdesk.accounts.models import User
from refdesk.accounts.roles import assignee_roles
from refdesk.core import sql
from refdesk.intake.choices import LOAD_STAGES

# Runs on every intake: SQL written once (per kind of lead); the ORM's annotated subquery
# costs 1,208 µs more on SQLite and 1,354 µs on PostgreSQL (bench/sql_paths.py). Each member's
# open load is a seek on the (assigned_to, stage) index, so it stays cheap however many
# referrals the desk holds.
_CANDIDATES = (
    "SELECT m.user_id, u.username FROM accounts_teammembership m "
    "JOIN accounts_user u ON u.id = m.user_id "
    "WHERE m.team_id = %s AND m.available = %s AND u.is_active = %s AND u.role IN ({roles}) "
    "ORDER BY (SELECT COUNT(*) FROM intake_referral r "
    "WHERE r.assigned_to_id = m.user_id AND r.stage IN ({stages})), "
    "m.last_assigned_at IS NOT NULL, m.last_assigned_at, m.user_id"
)
_LOAD_STAGES = tuple(sorted(LOAD_STAGES))


@cache
def _candidates_query(lead_kind: str) -> tuple[str, list]:
    """The candidates' SQL for this kind of lead and its parameters after the team id."""
    roles = sorted(assignee_roles(lead_kind=lead_kind))
    sql_text = _CANDIDATES.format(
        roles=", ".join(["%s"] * len(roles)), stages=", ".join(["%s"] * len(_LOAD_STAGES))
    )
    return sql_text, [True, True, *roles, *_LOAD_STAGES]


def _candidate_rows(team_id: int, lead_kind: str, *, limit: int | None = None) -> list[tuple]:
    sql_text, params = _candidates_query(lead_kind)
    if limit:
        sql_text, params = sql_text + " LIMIT %s", [*params, int(limit)]
    with connection.cursor() as cursor:
        cursor.execute(sql_text, [team_id, *params])
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


def assignment_next(queue, *, lead_kind: str) -> User | None:
    """The member who should take the next referral of this kind in ``queue``, or None."""
    rows = _candidate_rows(queue.team_id, lead_kind, limit=1)
    if not rows:
        return None
    return sql.loaded(User, id=rows[0][0], username=rows[0][1])


def assignment_noted(*, team_id: int, user_id: int, at: datetime) -> None:
    """Remember when the member last got work automatically (their turn comes round again).
    One UPDATE written once, like the other statements of intake (the ORM's update() compiles
    on each call: ~135-200 µs, bench/sql_paths.py)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_teammembership SET last_assigned_at = %s "
            "WHERE team_id = %s AND user_id = %s",
            [connection.ops.adapt_datetimefield_value(at), team_id, user_id],
        )
