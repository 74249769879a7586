"""Reads of programs and their versions."""

from __future__ import annotations

from refdesk.programs.models import Program, ProgramVersion


def program_list() -> list[Program]:
    return list(Program.objects.select_related("active_version", "owner_team").order_by("slug"))


def program_active_version(*, slug: str) -> ProgramVersion | None:
    program = Program.objects.select_related("active_version").filter(slug=slug).first()
    return program.active_version if program else None
