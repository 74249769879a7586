"""Loading program definition files: YAML text in, a validated ``LoadedProgram`` or every problem
out. Pure Python (no Django), so the CLI, the tests and ``program simulate`` share it.

Validation runs in three passes, each only when the previous one succeeded: YAML syntax (with
strict keys), structure (pydantic: types, required and unknown keys), then whole-program rules
(references, conditions, routing). All problems of a pass are reported together, each with the
path inside the file and, when it can be found, the line.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from refdesk.programs.issues import Issue, format_loc
from refdesk.programs.references import check_program
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.validation_messages import issues_from_validation_error
from refdesk.programs.yamlsource import YamlProblem, line_of, parse_yaml, to_json_data

STORED = "<stored definition>"  # the "file" named in errors about a re-loaded snapshot


@dataclass(frozen=True)
class ProgramError:
    """One problem in one program file."""

    file: str  # the file path as given
    path: str  # path inside the file, e.g. "routes[2].when.request_type"; "" for the whole file
    message: str
    line: int | None = None  # 1-based line where ``path`` is written, when known

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return ": ".join(part for part in (where, self.path, self.message) if part)


class ProgramInvalid(Exception):
    """One or more program files are invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: Iterable[ProgramError]):
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


@dataclass(frozen=True)
class LoadedProgram:
    """A validated program definition and the text it came from."""

    path: str
    source_text: str
    definition: ProgramDefinition
    content_hash: str  # identical for definitions that mean the same, whatever the layout

    def canonical_dict(self) -> dict:
        return self.definition.model_dump(mode="json")

    def normalized_yaml(self) -> str:
        """The definition with defaults filled in and comments gone, for readable diffs."""
        return yaml.safe_dump(self.canonical_dict(), sort_keys=False, allow_unicode=True, width=100)


def compute_content_hash(definition: ProgramDefinition) -> str:
    """sha256 of the canonical JSON: comments, whitespace and key order do not count."""
    canonical = json.dumps(
        definition.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_program_text(text: str, *, filename: str) -> LoadedProgram:
    """Parse and validate one definition. Raises ProgramInvalid listing every problem."""
    filename = str(filename)
    try:
        data, root = parse_yaml(text)
        data = to_json_data(data)
    except YamlProblem as problem:
        raise ProgramInvalid([ProgramError(filename, "", problem.message, problem.line)]) from None
    if data is None:
        raise _invalid(filename, "the file is empty; expected a program definition mapping")
    if not isinstance(data, dict):
        raise _invalid(
            filename,
            f"the top level must be a mapping of keys (schema, id, name, ...), not {_kind(data)}",
            1,
        )
    definition = _validate(data, filename=filename, root=root)
    return LoadedProgram(filename, text, definition, compute_content_hash(definition))


def load_program_file(path: str | PathLike) -> LoadedProgram:
    """Read and validate one file. Raises ProgramInvalid, also when it cannot be read."""
    filename = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _invalid(filename, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")  # tolerate a byte-order mark some editors add
    except UnicodeDecodeError as exc:
        raise _invalid(
            filename,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8",
        ) from None
    return load_program_text(text, filename=filename)


def load_program_files(paths: Iterable[str | PathLike]) -> list[LoadedProgram]:
    """Validate every file; raise ProgramInvalid with all errors from all files if any fails.

    Two files defining the same program id is an error too (reported on the later file).
    """
    loaded: list[LoadedProgram] = []
    errors: list[ProgramError] = []
    for path in paths:
        try:
            loaded.append(load_program_file(path))
        except ProgramInvalid as exc:
            errors += exc.errors
    first_by_id: dict[str, LoadedProgram] = {}
    for program in loaded:
        first = first_by_id.setdefault(program.definition.id, program)
        if first is not program:
            _, root = parse_yaml(program.source_text)
            errors.append(
                ProgramError(
                    program.path,
                    "id",
                    f"program id '{program.definition.id}' is also defined in {first.path}",
                    line_of(root, ("id",)),
                )
            )
    if errors:
        raise ProgramInvalid(errors)
    return loaded


def definition_from_dict(data: dict[str, Any]) -> ProgramDefinition:
    """Re-load a stored snapshot (``canonical_dict()`` output). It was valid when stored; it is
    validated again so a snapshot is never trusted beyond what the current schema accepts."""
    if not isinstance(data, dict):
        raise _invalid(STORED, f"expected a mapping, not {_kind(data)}")
    try:
        data = to_json_data(data)
    except YamlProblem as problem:
        raise _invalid(STORED, problem.message) from None
    return _validate(data, filename=STORED, root=None)


def _validate(data: dict, *, filename: str, root) -> ProgramDefinition:
    try:
        definition = ProgramDefinition.model_validate(data)
    except ValidationError as exc:
        raise _from_issues(filename, issues_from_validation_error(exc), root) from None
    issues = check_program(definition)
    if issues:
        raise _from_issues(filename, issues, root)
    return definition


def _from_issues(filename: str, issues: list[Issue], root) -> ProgramInvalid:
    return ProgramInvalid(
        ProgramError(filename, format_loc(issue.loc), issue.message, line_of(root, issue.loc))
        for issue in issues
    )


def _invalid(filename: str, message: str, line: int | None = None) -> ProgramInvalid:
    return ProgramInvalid([ProgramError(filename, "", message, line)])


def _kind(value: Any) -> str:
    return "a list" if isinstance(value, list) else f"a {type(value).__name__} value"
