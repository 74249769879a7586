"""Writes for users and teams. Each change is audited in the same transaction."""

from __future__ import annotations

from django.db import transaction

from refdesk.accounts.choices import Role
from refdesk.accounts.models import Team, TeamMembership, User
from refdesk.audit.services import audit_record


@transaction.atomic
def team_upsert(*, slug: str, name: str, timezone: str, actor) -> tuple[Team, bool]:
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
    actor,
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
