"""Reads of programs and their versions."""

from __future__ import annotations

from functools import lru_cache

from refdesk.programs.loader import definition_from_dict
from refdesk.programs.models import Program, ProgramVersion
from refdesk.programs.schema import ProgramDefinition


def program_list() -> list[Program]:
    return list(Program.objects.select_related("active_version", "owner_team").order_by("slug"))


def program_active_version(*, slug: str) -> ProgramVersion | None:
    program = Program.objects.select_related("active_version").filter(slug=slug).first()
    return program.active_version if program else None


@lru_cache(maxsize=64)
def _definition(
    version_id: int,
    content_hash: str,
) -> ProgramDefinition:
    # Versions are immutable, so (id, hash) names one definition forever.
    version = ProgramVersion.objects.get(pk=version_id)
    return definition_from_dict(version.definition)


def version_definition(version: ProgramVersion) -> ProgramDefinition:
    return _definition(version.pk, version.content_hash)
