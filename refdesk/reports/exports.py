"""Exports of the review pack: files in a directory (``report_export``, for the command line) or
one file to download (``report_download``, for the dashboard's button). Both are aggregate
exports, so both suppress small numbers first, and both are audited.

1. Suppress: ``suppressed_report`` at the threshold given, else the setting
   ``REFDESK_REPORT_SUPPRESSION_THRESHOLD`` (env ``REFDESK_REPORT_SUPPRESSION``, default 5).
2. Render every format asked for, in memory. A failure here (WeasyPrint missing, a bad table)
   stops the export before anything is written or recorded.
3. In one transaction: record ONE event ``report.exported`` — program, period, formats,
   threshold, how it was delivered and the SHA-256 of every file; never a number from the
   report — and put the files in place (written to a hidden staging directory beside them,
   then renamed). If recording or a rename fails, the files already placed are removed, any
   earlier pack they replaced is put back, and the event rolls back.

Files: ``<program>-<YYYY-MM>.html``, ``.pdf``, ``.xlsx`` and ``<program>-<YYYY-MM>-csv.zip``
(one CSV per table plus ``about.csv``: one file to hash, move and hand over). A period that is
not a whole month is named ``<program>-<first day>_<last day>``; all programs is
``all-programs``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from refdesk.audit.services import Actor, audit_record
from refdesk.core.errors import ApplicationError
from refdesk.reports.document import Report
from refdesk.reports.html import render_html
from refdesk.reports.pdf import render_pdf
from refdesk.reports.suppress import suppressed_report
from refdesk.reports.tabular import render_csv, render_xlsx

FORMATS = ("html", "pdf", "csv", "xlsx")


@dataclass(frozen=True)
class ExportFile:
    name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def pack_basename(report: Report) -> str:
    program = report.file_stem or report.program or "all-programs"
    if report.period_label == report.start.strftime("%B %Y"):
        return f"{program}-{report.start:%Y-%m}"
    return f"{program}-{report.start.isoformat()}_{report.end.isoformat()}"


def _zip(files: dict[str, bytes], report: Report) -> bytes:
    """The CSVs in one zip; entries dated by the report, so the same pack zips to the same
    bytes (and the same hash)."""
    stamp = report.generated_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _render(report: Report, fmt: str, page: dict[str, str]) -> ExportFile:
    """One format of the pack; ``page`` keeps the HTML once rendered (its charts are most of
    the work), for the PDF drawn from it."""
    base = pack_basename(report)
    if fmt in ("html", "pdf") and "html" not in page:
        page["html"] = render_html(report)
    if fmt == "html":
        return ExportFile(f"{base}.html", "text/html; charset=utf-8", page["html"].encode())
    if fmt == "pdf":
        return ExportFile(f"{base}.pdf", "application/pdf", render_pdf(report, html=page["html"]))
    if fmt == "xlsx":
        return ExportFile(
            f"{base}.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            render_xlsx(report),
        )
    return ExportFile(f"{base}-csv.zip", "application/zip", _zip(render_csv(report), report))


def _formats(formats: Iterable[str]) -> list[str]:
    if isinstance(formats, str):  # "html,pdf" as typed on a command line
        formats = formats.split(",")
    chosen: list[str] = []
    for fmt in formats:
        fmt = str(fmt).strip().lower()
        if fmt not in FORMATS:
            raise ApplicationError(
                f"unknown export format {fmt!r}: choose from {', '.join(FORMATS)}",
                code="unknown_format",
                field="formats",
            )
        if fmt not in chosen:
            chosen.append(fmt)
    if not chosen:
        raise ApplicationError(
            f"choose at least one export format ({', '.join(FORMATS)})",
            code="no_format",
            field="formats",
        )
    return chosen


def _threshold(threshold: int | None) -> int:
    value = settings.REFDESK_REPORT_SUPPRESSION_THRESHOLD if threshold is None else threshold
    if not isinstance(value, int) or value < 1:
        raise ApplicationError(
            "the suppression threshold is a whole number of at least 1",
            code="bad_threshold",
            field="threshold",
        )
    return value


def _audit(*, actor: Actor, report: Report, files: list[ExportFile], delivery: str) -> None:
    audit_record(
        actor=actor,
        action="report.exported",
        subject=("report", pack_basename(report)),
        changes={
            "program": (None, report.program or None),
            "period": (None, {"start": report.start.isoformat(), "end": report.end.isoformat()}),
            "formats": (None, [Path(f.name).suffix.lstrip(".") for f in files]),
            "threshold": (None, report.suppression_threshold),
            "delivery": (None, delivery),
            "files": (None, {f.name: f.sha256 for f in files}),
        },
    )


def _rendered(
    report: Report, formats: Iterable[str], threshold: int | None
) -> tuple[Report, list[ExportFile]]:
    """The report as exported (suppressed) and its files, in memory."""
    chosen = _formats(formats)
    shown = suppressed_report(report, _threshold(threshold))
    page: dict[str, str] = {}
    return shown, [_render(shown, fmt, page) for fmt in chosen]


def _out_dir(out_dir: str | os.PathLike) -> Path:
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ApplicationError(f"{path} is a file, not a directory", code="bad_out_dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ApplicationError(
            f"cannot create {path}: {error.strerror}", code="bad_out_dir"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ApplicationError(f"cannot write to {path}", code="bad_out_dir")
    return path


def report_export(
    report: Report,
    *,
    out_dir: str | os.PathLike,
    formats: Iterable[str],
    actor: Actor,
    threshold: int | None = None,
) -> list[Path]:
    """Write the pack in ``formats`` to ``out_dir`` (created if needed; a pack of the same
    program and period there is replaced) and record the export. Returns the paths written,
    in the order of ``formats``."""
    shown, files = _rendered(report, formats, threshold)
    directory = _out_dir(out_dir)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".report-export-") as staging_dir:
        staging = Path(staging_dir)
        for file in files:
            (staging / file.name).write_bytes(file.data)
        placed: list[tuple[Path, Path | None]] = []
        try:
            with transaction.atomic():
                _audit(actor=actor, report=shown, files=files, delivery="file")
                for file in files:
                    target, backup = directory / file.name, None
                    if target.exists():
                        backup = staging / f"{file.name}.previous"
                        os.replace(target, backup)
                    placed.append((target, backup))
                    os.replace(staging / file.name, target)
        except BaseException:
            for target, backup in reversed(placed):
                target.unlink(missing_ok=True)
                if backup is not None:
                    os.replace(backup, target)
            raise
    return [directory / file.name for file in files]


def report_download(
    report: Report, *, format: str, actor: Actor, threshold: int | None = None
) -> ExportFile:
    """One format of the pack, as bytes for a download, recorded like a file export
    (``delivery: download``). The caller sends ``name``, ``content_type`` and ``data``."""
    shown, (file,) = _rendered(report, [format], threshold)
    with transaction.atomic():
        _audit(actor=actor, report=shown, files=[file], delivery="download")
    return file
