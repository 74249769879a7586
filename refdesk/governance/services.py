"""Applying program definitions: how programs, versions, teams, queues and sources change."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from refdesk.accounts.services import team_upsert
from refdesk.audit.services import Actor, actor_label, audit_record
from refdesk.core.errors import ApplicationError
from refdesk.outreach.services import content_sync
from refdesk.programs.loader import LoadedProgram
from refdesk.programs.models import Program, ProgramVersion
from refdesk.referrers.services import source_sync
from refdesk.routing.services import queue_upsert


@dataclass(frozen=True)
class ApplyResult:
    program: str
    version: int
    created: bool  # False: the content matched the active version, nothing was written

    def __str__(self):
        state = "applied as" if self.created else "unchanged at"
        return f"{self.program}: {state} version {self.version}"


@transaction.atomic
def program_apply(*, programs: list[LoadedProgram], actor: Actor, note: str) -> list[ApplyResult]:
    """Apply validated definitions in one transaction: all of them or none.

    For each program:
    1. create or update the teams and queues it declares;
    2. create the program on first apply, and lock it (concurrent applies queue here);
    3. when the content hash differs from the active version's, store version N+1 and activate it;
    4. bring its sources in line with the definition.
    """
    if not note or not note.strip():
        raise ApplicationError('a change note is required (--note "why")', code="note_required")
    results = []
    for loaded in programs:
        results.append(_apply_one(loaded=loaded, actor=actor, note=note.strip()))
    return results


def _apply_one(*, loaded: LoadedProgram, actor: Actor, note: str) -> ApplyResult:
    data = loaded.canonical_dict()
    teams = {}
    for slug, team in data["teams"].items():
        teams[slug], _ = team_upsert(
            slug=slug, name=team["name"], timezone=team["timezone"], actor=actor
        )
    for slug, queue in data["queues"].items():
        queue_upsert(
            slug=slug,
            name=queue["name"],
            team=teams[queue["team"]],
            description=queue.get("description") or "",
            actor=actor,
        )

    program = Program.objects.select_for_update().filter(slug=data["id"]).first()
    if program is None:
        program = Program.objects.create(
            slug=data["id"],
            name=data["name"],
            goal=data["goal"],
            owner_team=teams[data["owner"]["team"]],
        )
        audit_record(
            actor=actor,
            action="program.created",
            subject=program,
            changes={"slug": (None, program.slug), "name": (None, program.name)},
        )
    active = program.active_version
    if active is not None and active.content_hash == loaded.content_hash:
        return ApplyResult(program.slug, active.number, created=False)

    number = (program.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = ProgramVersion.objects.create(
        program=program,
        number=number,
        content_hash=loaded.content_hash,
        definition=data,
        source_text=loaded.source_text,
        source_path=str(loaded.path),
        applied_by=actor_label(actor),
        applied_at=timezone.now(),
        note=note,
    )
    program.name, program.goal = data["name"], data["goal"]
    program.owner_team = teams[data["owner"]["team"]]
    program.active_version = version
    program.save(update_fields=["name", "goal", "owner_team", "active_version", "updated_at"])
    audit_record(
        actor=actor,
        action="program.version_applied",
        subject=program,
        reason=note,
        changes={
            "version": (active.number if active else None, number),
            "content_hash": (active.content_hash if active else None, loaded.content_hash),
        },
    )
    source_sync(
        program=program,
        sources={slug: source["label"] for slug, source in data["sources"].items()},
        actor=actor,
    )
    # Templates and materials whose wording is new wait as drafts for approval (console).
    content_sync(program=program, definition=data, actor=actor)
    return ApplyResult(program.slug, number, created=True)
