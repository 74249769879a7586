"""Bulk import of referrals from a CSV file: parsing, type conversion and the per-row import.

The columns are documented in docs/bulk-import.md. Each row goes through ``referral_submit``
(method ``bulk``) on its own, so each row is all-or-nothing and one bad row never blocks the
others. A row's ``client_ref`` is its ``client_ref`` column or a keyed hash of its normalised
content, so importing a file twice creates nothing twice. Messages name columns and problems,
never cell values (they are patient data).
"""

from __future__ import annotations

import csv
import io
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from refdesk.audit.services import Actor
from refdesk.core.crypto import blind_index
from refdesk.core.errors import ApplicationError, ValidationFailed
from refdesk.intake.rejections import rejections_record
from refdesk.intake.submissions import Submission
from refdesk.intake.validation import RECORDS_REQUESTED, error
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_intake import LeadField
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer
from refdesk.workflow.submission import referral_submit

# The built-in lead fields, straight from the program schema so the two never drift.
LEAD_COLUMNS = typing.get_args(LeadField)
CONSENT_COLUMNS = (
    "consent_granted",
    "consent_purposes",
    "consent_channels",
    "consent_method",
    "consent_text_version",
)
OTHER_COLUMNS = ("request_type", "therapy_area", "lead_kind", "client_ref")
REQUIRED_COLUMNS = ("request_type",)
ANSWER_PREFIX = "answer."
LIST_SEPARATOR = ";"
MAX_CLIENT_REF = 100

_TRUE = frozenset({"true", "yes"})
_FALSE = frozenset({"false", "no"})
_INTEGER = re.compile(r"[+-]?\d+")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (missing, not UTF-8, empty, bad header)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CsvRow:
    number: int  # as a spreadsheet numbers it: the header is row 1
    cells: dict[str, str]
    problem: dict | None = None  # a structural error (wrong number of cells)


@dataclass(frozen=True)
class CsvFile:
    columns: list[str]
    rows: list[CsvRow]


@dataclass
class RowOutcome:
    number: int
    status: str  # "accepted", "already_imported" or "rejected"
    reference: str = ""
    stage: str = ""
    missing: list[str] = field(default_factory=list)
    duplicate_of: str = ""
    errors: list[dict] = field(default_factory=list)
    # A rejection for the row's content, counted in the rejection statistics.
    counted: bool = True


def import_definition(referrer: Referrer) -> ProgramDefinition:
    """The active definition of the referrer's program, once the source may upload in bulk."""
    program = referrer.source.program
    if not referrer.active or not referrer.source.active:
        raise ImportFileError(f"referrer {referrer.code} may no longer refer (inactive)")
    if program.active_version is None:
        raise ImportFileError(f"program {program.slug} has no active version")
    definition = version_definition(program.active_version)
    source = definition.sources.get(referrer.source.slug)
    if source is None or "bulk" not in source.submission_methods:
        methods = ", ".join(source.submission_methods) if source else "none"
        raise ImportFileError(
            f"source {referrer.source.slug} of program {program.slug} does not accept bulk "
            f"uploads (it takes: {methods})"
        )
    return definition


def read_csv(path: str | Path, definition: ProgramDefinition) -> CsvFile:
    """Read and check the whole file; raise ImportFileError for anything that is not per row."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a directory, not a CSV file") from None
    except OSError as problem:
        raise ImportFileError(f"{path}: cannot be read ({problem.strerror})") from None
    try:
        # utf-8-sig also reads plain UTF-8; it drops the byte-order mark spreadsheets write.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        line = data[: problem.start].count(b"\n") + 1
        raise ImportFileError(
            f"{path}: line {line} is not UTF-8 text; save the file as CSV UTF-8"
        ) from None
    if not text.strip():
        raise ImportFileError(f"{path}: the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as problem:
        raise ImportFileError(
            f"{path}: line {reader.line_num}: not valid CSV ({problem})"
        ) from None
    columns = [name.strip() for name in records[0]]
    _check_header(columns, definition)
    rows = []
    for index, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines carry nothing
        if len(record) != len(columns):
            problem = error(
                "row",
                "wrong_cell_count",
                f"This row has {len(record)} cells; the header has {len(columns)}.",
            )
            rows.append(CsvRow(index, {}, problem))
        else:
            rows.append(CsvRow(index, dict(zip(columns, record, strict=True))))
    if not rows:
        raise ImportFileError(f"{path}: the file has a header but no rows")
    return CsvFile(columns, rows)


def _check_header(columns: list[str], definition: ProgramDefinition) -> None:
    known = {*LEAD_COLUMNS, *CONSENT_COLUMNS, *OTHER_COLUMNS}
    known |= {ANSWER_PREFIX + answer_id for answer_id in definition.intake.answers}
    problems = []
    if any(not name for name in columns):
        problems.append("a column has no name")
    duplicated = sorted({name for name in columns if name and columns.count(name) > 1})
    if duplicated:
        problems.append(f"columns appear twice: {', '.join(duplicated)}")
    unknown = [name for name in columns if name and name not in known]
    if unknown:
        problems.append(f"unknown columns: {', '.join(unknown)}")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if problems:
        answers = ", ".join(ANSWER_PREFIX + a for a in definition.intake.answers) or "none"
        raise ImportFileError(
            "the header row is not usable: "
            + "; ".join(problems)
            + f" (answer columns for this program: {answers}; see docs/bulk-import.md)"
        )


def row_submission(
    cells: dict[str, str], definition: ProgramDefinition
) -> tuple[Submission, list[dict]]:
    """Convert one row's strings to a Submission; returns it with any conversion errors.

    Numbers and yes/no answers that do not convert are passed on as text, so that
    ``referral_submit`` reports them with the same codes as the form and the API.
    """
    values = {name: value.strip() for name, value in cells.items() if value and value.strip()}
    errors: list[dict] = []
    lead: dict = {name: values[name] for name in LEAD_COLUMNS if name in values}
    if "birth_year" in lead and _INTEGER.fullmatch(lead["birth_year"]):
        lead["birth_year"] = int(lead["birth_year"])
    answers = {}
    for name, value in values.items():
        if name.startswith(ANSWER_PREFIX):
            answer_id = name.removeprefix(ANSWER_PREFIX)
            answers[answer_id] = _answer_value(definition.intake.answers.get(answer_id), value)
    consent = None
    if any(name in values for name in CONSENT_COLUMNS):
        granted = _boolean(values.get("consent_granted", ""))
        if granted is None:
            errors.append(
                error("consent.granted", "invalid_boolean", "Answer yes or no (or true or false).")
            )
        consent = {
            "granted": bool(granted),
            "purposes": _list(values.get("consent_purposes", "")),
            "channels": _list(values.get("consent_channels", "")),
            "method": values.get("consent_method", ""),
            "text_version": values.get("consent_text_version", ""),
        }
    submission = Submission(
        request_type=values.get("request_type", ""),
        lead_kind=values.get("lead_kind", ""),
        therapy_area=values.get("therapy_area", ""),
        lead=lead,
        answers=answers,
        consent=consent,
    )
    return submission, errors


def _answer_value(spec, value: str):
    if spec is None:
        return value
    if spec.records_pending_allowed and value.lower().replace(" ", "_") == RECORDS_REQUESTED:
        return RECORDS_REQUESTED
    if spec.type == "integer" and _INTEGER.fullmatch(value):
        return int(value)
    if spec.type == "boolean":
        converted = _boolean(value)
        return value if converted is None else converted
    return value


def _boolean(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(LIST_SEPARATOR) if item.strip()]


def row_client_ref(cells: dict[str, str]) -> str:
    """The row's ``client_ref`` column, or a keyed hash of its normalised content.

    Keyed (HMAC), because an unkeyed hash of a few known fields could be guessed back.
    """
    given = cells.get("client_ref", "").strip()
    if given:
        return given
    content = {
        name: value.strip()
        for name, value in cells.items()
        if name != "client_ref" and value and value.strip()
    }
    digest = blind_index("import_row", json.dumps(content, sort_keys=True, ensure_ascii=False))
    return f"csv:{digest[:40]}"


class _DryRunDone(Exception):
    def __init__(self, result):
        self.result = result


def import_row(
    *, referrer: Referrer, definition: ProgramDefinition, row: CsvRow, actor: Actor, dry_run: bool
) -> RowOutcome:
    """Submit one row; a rejection writes nothing but its rejection statistics (a real import
    only: a dry run is a check, not a submission). A dry run rolls the row back afterwards."""
    outcome = _import_row(
        referrer=referrer, definition=definition, row=row, actor=actor, dry_run=dry_run
    )
    if outcome.status == "rejected" and outcome.counted and not dry_run:
        rejections_record(
            referrer=referrer,
            method="bulk",
            # "row": the whole row (e.g. its cell count), not a field of the submission.
            errors=[
                ("" if problem["field"] == "row" else problem["field"], problem["code"])
                for problem in outcome.errors
            ],
        )
    return outcome


def _import_row(
    *, referrer: Referrer, definition: ProgramDefinition, row: CsvRow, actor: Actor, dry_run: bool
) -> RowOutcome:
    if row.problem is not None:
        return RowOutcome(row.number, "rejected", errors=[row.problem])
    submission, errors = row_submission(row.cells, definition)
    client_ref = row_client_ref(row.cells)
    if len(client_ref) > MAX_CLIENT_REF:
        errors.append(
            error("client_ref", "too_long", f"Keep it to {MAX_CLIENT_REF} characters or fewer.")
        )
    if errors:
        return RowOutcome(row.number, "rejected", errors=errors)
    try:
        if dry_run:
            # The real service in a transaction that is always rolled back: a dry run reports
            # exactly what an import would, duplicates and already-imported rows included.
            try:
                with transaction.atomic():
                    raise _DryRunDone(_submit(referrer, submission, actor, client_ref))
            except _DryRunDone as done:
                result = done.result
        else:
            result = _submit(referrer, submission, actor, client_ref)
    except ValidationFailed as failure:
        return RowOutcome(row.number, "rejected", errors=failure.errors)
    except ApplicationError as failure:
        # Not about the row's content (e.g. the referrer stopped being active mid-file).
        problem = error(failure.field or "row", failure.code, failure.message)
        return RowOutcome(row.number, "rejected", errors=[problem], counted=False)
    referral = result.referral
    return RowOutcome(
        row.number,
        "accepted" if result.created else "already_imported",
        reference=referral.reference,
        stage=referral.stage,
        missing=list(referral.missing),
        duplicate_of=referral.duplicate_of.reference if referral.duplicate_of_id else "",
    )


def _submit(referrer, submission, actor: Actor, client_ref):
    return referral_submit(
        referrer=referrer,
        submission=submission,
        method="bulk",
        actor=actor,
        client_ref=client_ref,
    )
