"""Writes for users and teams. Each change is audited in the same transaction."""

from __future__ import annotations

from django.db import transaction

from refdesk.accounts.choices import Role
from refdesk.accounts.models import Team, TeamMembership, User
from refdesk.audit.services import Actor, audit_record
from refdesk.core.errors import ApplicationError
from refdesk.core.timezones import is_choosable


@transaction.atomic
def team_upsert(*, slug: str, name: str, timezone: str, actor: Actor) -> tuple[Team, bool]:
    """Create the team or bring its name and time zone up to date; returns (team, changed)."""
    team = Team.objects.select_for_update().filter(slug=slug).first()
    if team is None:
        team = Team.objects.create(slug=slug, name=name, timezone=timezone)
        audit_record(
            actor=actor,
            action="team.created",
            subject=team,
            changes={"slug": (None, slug), "name": (None, name), "timezone": (None, timezone)},
        )
        return team, True
    changes = {
        field: (getattr(team, field), value)
        for field, value in (("name", name), ("timezone", timezone))
        if getattr(team, field) != value
    }
    if not changes:
        return team, False
    for field, (_, value) in changes.items():
        setattr(team, field, value)
    team.save(update_fields=[*changes, "updated_at"])
    audit_record(actor=actor, action="team.updated", subject=team, changes=changes)
    return team, True


@transaction.atomic
def user_create(
    *,
    username: str,
    email: str,
    role: str,
    password: str | None,
    actor: Actor,
    first_name: str = "",
    last_name: str = "",
    teams: list[Team] = (),
) -> User:
    """Create a staff user with a role and team memberships."""
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    user = User(
        username=username,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        is_staff=role == Role.ADMINISTRATOR,
        is_superuser=role == Role.ADMINISTRATOR,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    for team in teams:
        TeamMembership.objects.create(team=team, user=user)
    audit_record(
        actor=actor,
        action="user.created",
        subject=user,
        changes={
            "username": (None, username),
            "role": (None, role),
            "teams": (None, [team.slug for team in teams]),
        },
    )
    return user


# --- changes made by other code (the Django admin's forms), audited after the fact -------------

# What decides who a staff user is and what they may do; a change to any of it is audited.
AUDITED_USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "role",
    "is_active",
    "is_staff",
    "is_superuser",
)


def _membership_label(slug: str, available: bool) -> str:
    return slug if available else f"{slug} (away)"


def _teams_of(user_id: int | None) -> list[str]:
    if user_id is None:
        return []
    memberships = TeamMembership.objects.filter(user_id=user_id).select_related("team")
    return sorted(_membership_label(m.team.slug, m.available) for m in memberships)


def user_access_snapshot(user: User) -> dict:
    """The user's audited fields, teams (away ones marked), groups, admin permissions and
    whether they have a usable password — plain values to compare. Never the password hash.

    Fields come from ``user`` as given (e.g. as a form just set them); the related rows from
    the database, so take it before and after the related rows are saved.
    """
    snapshot = {field: getattr(user, field) for field in AUDITED_USER_FIELDS}
    snapshot["teams"] = _teams_of(user.pk)
    if user.pk is None:
        snapshot["groups"], snapshot["permissions"] = [], []
    else:
        snapshot["groups"] = sorted(user.groups.values_list("name", flat=True))
        snapshot["permissions"] = sorted(
            f"{app}.{codename}"
            for app, codename in user.user_permissions.values_list(
                "content_type__app_label", "codename"
            )
        )
    snapshot["password"] = "usable" if user.has_usable_password() else "unusable"
    return snapshot


@transaction.atomic
def user_changes_record(*, user: User, before: dict | None, actor: Actor, via: str):
    """Audit what changed on ``user`` since the snapshot ``before`` (None: the user was just
    created), for writes that code outside these services made — the admin's forms. Call it in
    the same transaction as the write. Returns the event, or None when nothing changed."""
    after = user_access_snapshot(user)
    if before is None:
        changes = {field: (None, value) for field, value in after.items()}
        return audit_record(
            actor=actor, action="user.created", subject=user, changes=changes, reason=via
        )
    changes = {field: (before[field], value) for field, value in after.items()
               if before.get(field) != value}  # fmt: skip
    if not changes:
        return None
    return audit_record(
        actor=actor, action="user.updated", subject=user, changes=changes, reason=via
    )


def team_members_snapshot(team: Team) -> dict[int, bool]:
    """{user id: available} for the team's members."""
    return dict(TeamMembership.objects.filter(team=team).values_list("user_id", "available"))


@transaction.atomic
def team_members_changes_record(
    *, team: Team, before: dict[int, bool], actor: Actor, via: str
) -> int:
    """Audit, on each user whose membership of ``team`` changed since ``before``, the change of
    their teams (``user.updated``), so every user's own history shows when they gained or lost a
    team. Only this team's rows changed, so each user's former team list is their current one
    with this team's entry put back as it was. Returns the number of users audited."""
    after = team_members_snapshot(team)
    affected = [uid for uid in before.keys() | after.keys() if before.get(uid) != after.get(uid)]
    users = User.objects.in_bulk(affected)
    for user_id in sorted(affected):
        now = _teams_of(user_id)
        others = [label for label in now if label.split(" ")[0] != team.slug]
        old = others + (
            [_membership_label(team.slug, before[user_id])] if user_id in before else []
        )
        audit_record(
            actor=actor,
            action="user.updated",
            subject=users[user_id],
            changes={"teams": (sorted(old), now)},
            reason=via,
        )
    return len(affected)


@transaction.atomic
def user_deletion_record(*, user: User, actor: Actor, via: str) -> None:
    """Audit a user about to be deleted (call it before the delete, in its transaction)."""
    audit_record(
        actor=actor,
        action="user.deleted",
        subject=user,
        changes={field: (value, None) for field, value in user_access_snapshot(user).items()},
        reason=via,
    )


@transaction.atomic
def user_timezone_set(*, user: User, timezone: str, actor: Actor) -> bool:
    """Set the zone the console shows the user's times in ("" = the staff default); returns
    whether it changed. Only canonical Area/City zones (``core.timezones``)."""
    if timezone and not is_choosable(timezone):
        raise ApplicationError(
            "choose a time zone from the list", code="unknown_timezone", field="timezone"
        )
    if user.timezone == timezone:
        return False
    before = user.timezone
    user.timezone = timezone
    user.save(update_fields=["timezone"])
    audit_record(
        actor=actor,
        action="user.preferences_changed",
        subject=user,
        changes={"timezone": (before, timezone)},
    )
    return True


@transaction.atomic
def team_lead_set(*, team: Team, user: User, lead: bool, actor: Actor) -> bool:
    """Make a member the team's lead (or not): leads hear escalations of the team's queues.
    Returns whether anything changed; a user who is not a member is a clear error."""
    membership = TeamMembership.objects.select_for_update().filter(team=team, user=user).first()
    if membership is None:
        raise ApplicationError(
            f"{user.get_username()} is not in team {team.slug}", code="not_member"
        )
    if membership.lead == lead:
        return False
    membership.lead = lead
    membership.save(update_fields=["lead"])
    audit_record(
        actor=actor,
        action="team.lead_changed",
        subject=team,
        changes={
            "lead": (None if lead else user.get_username(), user.get_username() if lead else None)
        },
    )
    return True
