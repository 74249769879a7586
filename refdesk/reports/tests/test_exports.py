"""Exports of the review pack: suppressed, written whole or not at all, and recorded once in
the audit trail with the hash of every file."""

import csv
import hashlib
import io
import os
import sys
import zipfile
from datetime import date

import pytest

from refdesk.audit.models import AuditEvent
from refdesk.audit.services import audit_verify
from refdesk.core.errors import ApplicationError
from refdesk.reports import exports
from refdesk.reports.exports import report_download, report_export
from refdesk.reports.pdf import PdfUnavailable
from refdesk.reports.tests.sample import sample_report

pytestmark = pytest.mark.django_db

AUDITOR = "user:ines.auditor"
NAMES = [
    "patient-support-2026-10.html",
    "patient-support-2026-10.pdf",
    "patient-support-2026-10-csv.zip",
    "patient-support-2026-10.xlsx",
]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def exported_events():
    return list(AuditEvent.objects.filter(action="report.exported"))


def outcomes_csv(zip_path) -> list[list[str]]:
    with zipfile.ZipFile(zip_path) as archive:
        text = archive.read("outcomes_by_source.csv").decode()
    return list(csv.reader(io.StringIO(text)))


def test_an_export_writes_every_format_and_records_one_event_with_their_hashes(tmp_path):
    paths = report_export(
        sample_report(),
        out_dir=tmp_path / "pack",
        formats=["html", "pdf", "csv", "xlsx"],
        actor=AUDITOR,
    )
    assert [p.name for p in paths] == NAMES
    assert sorted(os.listdir(tmp_path / "pack")) == sorted(NAMES)  # no staging left behind
    (event,) = exported_events()
    assert event.actor == AUDITOR
    assert (event.subject_type, event.subject_id) == ("report", "patient-support-2026-10")
    changes = {key: value["new"] for key, value in event.changes.items()}
    assert changes == {
        "program": "patient-support",
        "period": {"start": "2026-10-01", "end": "2026-10-31"},
        "formats": ["html", "pdf", "zip", "xlsx"],
        "threshold": 5,  # the setting's default
        "delivery": "file",
        "files": {path.name: sha256(path) for path in paths},
    }
    assert audit_verify().ok
    with zipfile.ZipFile(paths[2]) as archive:
        assert "about.csv" in archive.namelist()


def test_the_exported_files_are_suppressed(tmp_path):
    paths = report_export(sample_report(), out_dir=tmp_path, formats=["csv", "html"], actor=AUDITOR)
    assert outcomes_csv(paths[0])[2] == ["Clinic", "20", "<5", "<5", "40", "50.0", "45"]
    assert ">&lt;5</td>" in paths[1].read_text()


def test_the_threshold_comes_from_the_setting_unless_given(tmp_path, settings):
    settings.REFDESK_REPORT_SUPPRESSION_THRESHOLD = 9
    (path,) = report_export(sample_report(), out_dir=tmp_path, formats=["csv"], actor=AUDITOR)
    # at 9 the pharmacy's declined 8 is hidden, and with it its unreachable 10 (the smallest
    # other count of its row)
    assert outcomes_csv(path)[3][:5] == ["Pharmacy", "25", "<9", "<9", "43"]
    (path,) = report_export(
        sample_report(), out_dir=tmp_path, formats=["csv"], actor=AUDITOR, threshold=3
    )
    assert outcomes_csv(path)[1][2] == "3"  # the patient organisation's 3 is not below 3
    assert [e.changes["threshold"]["new"] for e in exported_events()] == [9, 3]


def test_the_same_pack_exported_twice_is_the_same_bytes_and_replaces_the_first(tmp_path):
    first = report_export(sample_report(), out_dir=tmp_path, formats=["csv", "xlsx"], actor=AUDITOR)
    hashes = [sha256(path) for path in first]
    second = report_export(sample_report(), out_dir=tmp_path, formats=["csv"], actor=AUDITOR)
    assert sha256(second[0]) == hashes[0]
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in first)
    assert len(exported_events()) == 2


def test_a_failed_render_writes_no_file_and_records_nothing(tmp_path, monkeypatch):
    def broken(report):
        raise RuntimeError("the workbook could not be drawn")

    monkeypatch.setattr(exports, "render_xlsx", broken)
    with pytest.raises(RuntimeError):
        report_export(sample_report(), out_dir=tmp_path, formats=["html", "xlsx"], actor=AUDITOR)
    assert os.listdir(tmp_path) == []
    assert exported_events() == []


def test_without_weasyprint_nothing_is_written_and_the_message_says_what_to_install(
    tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(PdfUnavailable, match="libpango-1.0-0"):
        report_export(sample_report(), out_dir=tmp_path, formats=["html", "pdf"], actor=AUDITOR)
    assert os.listdir(tmp_path) == []
    assert exported_events() == []


def test_a_failure_while_placing_the_files_puts_the_earlier_pack_back(tmp_path, monkeypatch):
    earlier = tmp_path / "patient-support-2026-10.html"
    earlier.write_text("the pack exported last week")
    real_replace = os.replace

    def fail_on_the_workbook(source, target):
        if str(target).endswith(".xlsx"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(exports.os, "replace", fail_on_the_workbook)
    with pytest.raises(OSError):
        report_export(sample_report(), out_dir=tmp_path, formats=["html", "xlsx"], actor=AUDITOR)
    assert os.listdir(tmp_path) == [earlier.name]
    assert earlier.read_text() == "the pack exported last week"
    assert exported_events() == []  # the event rolled back with the files


@pytest.mark.parametrize(
    ("formats", "code"), [(["html", "docx"], "unknown_format"), ([], "no_format")]
)
def test_an_unknown_or_missing_format_is_refused_plainly(tmp_path, formats, code):
    with pytest.raises(ApplicationError) as raised:
        report_export(sample_report(), out_dir=tmp_path, formats=formats, actor=AUDITOR)
    assert raised.value.code == code and "html, pdf, csv, xlsx" in raised.value.message
    assert os.listdir(tmp_path) == [] and exported_events() == []


def test_formats_may_be_given_as_typed(tmp_path):
    paths = report_export(sample_report(), out_dir=tmp_path, formats=" HTML,csv", actor=AUDITOR)
    assert [p.name for p in paths] == [NAMES[0], NAMES[2]]


def test_an_output_path_that_is_a_file_is_refused_plainly(tmp_path):
    target = tmp_path / "pack"
    target.write_text("")
    with pytest.raises(ApplicationError, match="is a file, not a directory"):
        report_export(sample_report(), out_dir=target, formats=["html"], actor=AUDITOR)
    assert exported_events() == []


def test_a_period_that_is_not_a_whole_month_is_named_by_its_days(tmp_path):
    report = sample_report()
    report.start, report.end = date(2026, 10, 5), date(2026, 10, 18)
    report.program = ""
    (path,) = report_export(report, out_dir=tmp_path, formats=["html"], actor=AUDITOR)
    assert path.name == "all-programs-2026-10-05_2026-10-18.html"


def test_a_download_is_the_file_and_is_recorded_like_an_export():
    file = report_download(sample_report(), format="xlsx", actor=AUDITOR)
    assert file.name == "patient-support-2026-10.xlsx"
    assert file.content_type.endswith("spreadsheetml.sheet")
    (event,) = exported_events()
    assert event.changes["delivery"]["new"] == "download"
    assert event.changes["files"]["new"] == {file.name: hashlib.sha256(file.data).hexdigest()}


def test_a_download_that_fails_to_render_records_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    with pytest.raises(PdfUnavailable):
        report_download(sample_report(), format="pdf", actor=AUDITOR)
    assert exported_events() == []
