"""``refdesk program validate|apply|diff|list|simulate``: programs as code."""

from __future__ import annotations

import datetime as dt
import difflib
import json

from django.core.management.base import BaseCommand, CommandError

from refdesk.audit.services import Actor
from refdesk.core.cli_support import cli_actor
from refdesk.core.errors import ApplicationError
from refdesk.governance.services import program_apply
from refdesk.programs.loader import (
    ProgramInvalid,
    load_program_file,
    load_program_files,
    load_program_text,
)
from refdesk.programs.selectors import program_active_version, program_list


class Command(BaseCommand):
    help = "Validate, apply, diff and list program definitions (YAML files)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        validate = sub.add_parser("validate", help="check files; exit 1 with the errors")
        validate.add_argument("files", nargs="+", metavar="FILE")
        apply = sub.add_parser("apply", help="store a new version of each changed program")
        apply.add_argument("files", nargs="+", metavar="FILE")
        apply.add_argument("--note", required=True, help="why (kept with the version)")
        apply.add_argument("--as", dest="actor", help="who is applying (default: OS user)")
        diff = sub.add_parser("diff", help="show what a file changes against the active version")
        diff.add_argument("file", metavar="FILE")
        sub.add_parser("list", help="programs, active versions, when and by whom applied")
        simulate = sub.add_parser(
            "simulate", help="replay stored referrals through a draft file; writes nothing"
        )
        simulate.add_argument("file", metavar="FILE")
        simulate.add_argument("--since", help="only referrals received since YYYY-MM-DD")
        simulate.add_argument("--format", choices=("table", "json"), default="table")
        simulate.add_argument(
            "--workers", type=int, help="processes that replay (default: by size and idle cores)"
        )

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _load(self, files):
        try:
            return load_program_files(files)
        except ProgramInvalid as invalid:
            for error in invalid.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{len(invalid.errors)} error(s); nothing applied", returncode=1
            ) from None

    def _validate(self, files, **options):
        loaded = self._load(files)
        for program in loaded:
            self.stdout.write(f"{program.path}: ok ({program.definition.id})")

    def _apply(self, files, note, actor: Actor, **options):
        loaded = self._load(files)
        try:
            results = program_apply(programs=loaded, actor=cli_actor(actor), note=note)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        for result in results:
            self.stdout.write(str(result))

    def _diff(self, file, **options):
        try:
            loaded = load_program_file(file)
        except ProgramInvalid as invalid:
            for error in invalid.errors:
                self.stderr.write(str(error))
            raise CommandError("the file is not valid", returncode=1) from None
        version = program_active_version(slug=loaded.definition.id)
        if version is None:
            self.stdout.write(f"{loaded.definition.id}: not applied yet; the whole file is new")
            old_text, old_name = "", "(nothing)"
        else:
            old_text, old_name = _stored_yaml(version), f"{loaded.definition.id} v{version.number}"
        if version is not None and version.content_hash == loaded.content_hash:
            self.stdout.write(f"{loaded.definition.id}: no change against version {version.number}")
            return
        diff = difflib.unified_diff(
            old_text.splitlines(keepends=True),
            loaded.normalized_yaml().splitlines(keepends=True),
            fromfile=old_name,
            tofile=str(file),
        )
        self.stdout.write("".join(diff), ending="")

    def _simulate(self, file, since, format, workers, **options):
        from refdesk.governance.simulation import program_simulate, render_table

        if since is not None:
            try:
                since = dt.date.fromisoformat(since)
            except ValueError:
                raise CommandError(
                    f"--since must be YYYY-MM-DD, not {since!r}", returncode=1
                ) from None
        try:
            loaded = load_program_file(file)
        except ProgramInvalid as invalid:
            for error in invalid.errors:
                self.stderr.write(str(error))
            raise CommandError("the file is not valid", returncode=1) from None
        try:
            report = program_simulate(definition=loaded.definition, since=since, workers=workers)
        except ApplicationError as error:
            raise CommandError(error.message, returncode=1) from None
        if format == "json":
            self.stdout.write(json.dumps(report.to_dict(), indent=2))
        else:
            self.stdout.write(render_table(report), ending="")

    def _list(self, **options):
        programs = program_list()
        if not programs:
            self.stdout.write('no programs yet: refdesk program apply FILE --note "..."')
            return
        self.stdout.write(
            f"{'PROGRAM':<24} {'VERSION':>7}  {'APPLIED AT (UTC)':<20} {'BY':<20} NOTE"
        )
        for program in programs:
            version = program.active_version
            self.stdout.write(
                f"{program.slug:<24} {version.number:>7}  "
                f"{version.applied_at:%Y-%m-%d %H:%M:%S}  {version.applied_by:<20} "
                f"{version.note.splitlines()[0] if version.note else ''}"
            )


def _stored_yaml(version) -> str:
    """The stored version in the same normalised form as a loaded file, so diffs show content."""
    try:
        return load_program_text(
            version.source_text, filename=version.source_path
        ).normalized_yaml()
    except ProgramInvalid:
        import yaml

        return yaml.safe_dump(version.definition, sort_keys=True, allow_unicode=True)
