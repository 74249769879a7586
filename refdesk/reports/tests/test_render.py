"""The review pack's formats draw the same suppressed numbers: printable HTML, PDF, CSV, XLSX."""

import builtins
import csv
import io
import re
import sys
from html.parser import HTMLParser

import openpyxl
import pypdf
import pytest

from refdesk.reports.cells import cell_text, duration_text
from refdesk.reports.document import Column
from refdesk.reports.html import render_html
from refdesk.reports.pdf import PdfUnavailable, render_pdf
from refdesk.reports.suppress import suppressed_report
from refdesk.reports.tabular import render_csv, render_xlsx, safe_text, sheet_names
from refdesk.reports.tests.sample import INJECTION, RULE_CHANGE, sample_report

OUTCOMES = [  # outcomes_by_source at 5, as worked out in test_suppress.py
    ["Source", "Qualified", "Unreachable", "Declined", "Referrals", "Qualified rate (%)",
     "Median first response (minutes)"],
    ["Patient organisation", "<5", "<5", "<5", "<5", "<5", "<5"],
    ["Clinic", "20", "<5", "<5", "40", "50.0", "45"],
    ["Pharmacy", "25", "10", "8", "43", "58.1", "90"],  # 25/43 = 58.14%, 5400 s = 90 min
    ["Hospital", "<5", "0", "<5", "<5", "<5", "<5"],
]  # fmt: skip


@pytest.fixture(scope="module")
def report():
    return suppressed_report(sample_report(), 5)


@pytest.fixture(scope="module")
def html(report):
    return render_html(report)


# ---- cell text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(8100, "2 h 15 min"), (2700, "45 min"), (7200, "2 h"), (29, "0 min"), (90060, "25 h 1 min")],
)
def test_durations_read_in_hours_and_minutes(seconds, text):
    assert duration_text(seconds) == text


def test_percents_counts_and_no_value_read_as_in_the_pack():
    assert cell_text(0.42, Column("r", "R", "percent")) == "42.0%"
    assert cell_text(1234, Column("n", "N")) == "1,234"
    assert cell_text(None, Column("r", "R", "percent")) == "—"


# ---- HTML ------------------------------------------------------------------------------------


def text_of(html: str) -> str:
    parser = HTMLParser()
    chunks: list[str] = []
    parser.handle_data = chunks.append
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(chunks))


def test_the_html_holds_every_section_table_and_chart(report, html):
    for section in report.sections:
        assert section.title in html
    for table in report.tables():
        assert f">{table.title}</h3>" in html
    assert html.count("<svg") == 4 and html.count('role="img"') == 4


def test_the_header_says_whose_which_month_which_zone_when_and_how_suppressed(html):
    text = text_of(html)
    assert "Patient support help line (patient-support)" in text
    assert "October 2026 (1 October 2026 to 31 October 2026)" in text
    assert "Time zone America/New_York" in text
    assert "Generated 2 November 2026, 09:30 (America/New_York)" in text  # 14:30 UTC
    assert "counts of people below 5 are suppressed" in text


def test_the_rule_change_is_at_the_top_and_beside_the_section_it_affects(html):
    first_section = html.index('class="report-section"')
    top = html.index(RULE_CHANGE.title)
    assert top < first_section  # before any number
    assert "Read these numbers with care" in html[:first_section]
    intake = html.index('id="section-intake"')
    assert html.index(RULE_CHANGE.title, intake) < html.index('id="section-conversion"')
    # 18:00 UTC is 14:00 in New York (daylight time)
    assert "Rule change, 14 October 2026, 14:00 (America/New_York):" in text_of(html)


def test_hidden_cells_show_the_marker_and_the_footnote_says_why(html):
    text = text_of(html)
    assert "Clinic 20 <5 <5 40 50.0% 45 min" in text
    assert "Pharmacy 25 10 8 43 58.1% 1 h 30 min" in text
    assert "Patient organisation <5 <5 <5 <5 <5 <5" in text
    assert (
        "<5: suppressed: fewer than 5, or hidden so a small number cannot be recomputed from "
        "the totals." in text
    )
    # a table of rules is not suppressed; a rule without a re-route has no value
    assert "urgent-callback 2 10 min" in text
    assert f"{INJECTION} 40 —" in text


def test_the_html_fetches_nothing(html):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "@import" not in html and "url(http" not in html and "<script" not in html
    assert "<link" not in html


def test_an_unsuppressed_report_says_it_is_for_internal_use():
    text = text_of(render_html(sample_report()))
    assert "not suppressed: for internal use only" in text
    assert "Patient organisation 12 3 6 21 57.1% 2 h 15 min" in text


# ---- PDF -------------------------------------------------------------------------------------


def test_the_pdf_has_pages_and_its_text_reads_back_with_the_charts(report):
    pdf = pypdf.PdfReader(io.BytesIO(render_pdf(report)))
    assert len(pdf.pages) > 0
    text = re.sub(r"\s+", " ", " ".join(page.extract_text() for page in pdf.pages))
    for table in report.tables():
        assert table.title in text
    assert "Clinic 20 <5 <5 40 50.0% 45 min" in text
    assert RULE_CHANGE.title in text
    # the charts are drawn, their text with them: a title and a funnel label
    assert "Qualified referrals by source" in text
    assert "103 (96.3% of received)" in text
    assert "Page 1 of" in text


def test_without_weasyprint_the_pdf_names_the_packages_to_install(report, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint: ImportError
    with pytest.raises(PdfUnavailable) as raised:
        render_pdf(report)
    message = raised.value.message
    assert "libpango-1.0-0" in message and "libpangoft2-1.0-0" in message
    assert "apt-get install" in message and "HTML, CSV and XLSX" in message
    assert raised.value.code == "pdf_unavailable"


def test_without_pango_the_pdf_says_the_same(report, monkeypatch):
    real_import = builtins.__import__

    def no_pango(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pango)
    with pytest.raises(PdfUnavailable, match="libpangoft2-1.0-0"):
        render_pdf(report)


# ---- CSV -------------------------------------------------------------------------------------


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_one_csv_per_table_reads_back_as_the_suppressed_table(report):
    files = render_csv(report)
    assert sorted(files) == sorted(
        ["about.csv", "outcomes_by_source.csv", "funnel.csv", "weekly.csv", "rule_matches.csv"]
    )
    assert read_csv(files["outcomes_by_source.csv"]) == OUTCOMES
    assert read_csv(files["funnel.csv"]) == [
        ["Step", "People"],
        ["Received", "107"],
        ["Routed", "103"],
        ["Contacted", "80"],
        ["Qualified", "59"],
    ]
    rules = read_csv(files["rule_matches.csv"])
    assert rules[1] == ["urgent-callback", "2", "10"]
    assert rules[2][1:] == ["40", ""]  # no value: empty, unlike a hidden cell


def test_about_csv_says_whose_which_month_and_what_changed(report):
    about = dict(read_csv(render_csv(report)["about.csv"])[1:])
    assert about["Program id"] == "patient-support"
    assert about["Period"] == "October 2026"
    assert about["Time zone"] == "America/New_York"
    assert about["Generated"] == "2 November 2026, 09:30 (America/New_York)"
    assert about["Suppression threshold"] == "5"
    assert about["Rule change"].startswith("14 October 2026, 14:00 (America/New_York): Program")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_text_a_spreadsheet_would_run_is_neutralised(start):
    assert safe_text(start + "1+1") == "'" + start + "1+1"
    assert safe_text("Clinic") == "Clinic"


def test_a_formula_in_a_csv_cell_is_text(report):
    rules = read_csv(render_csv(report)["rule_matches.csv"])
    assert rules[2][0] == "'" + INJECTION


# ---- XLSX ------------------------------------------------------------------------------------


def test_the_workbook_has_an_about_sheet_then_one_sheet_per_table(report):
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))
    assert book.sheetnames == [
        "About",
        "Outcomes by source",
        "Funnel",
        "Referrals by week",
        "Routing rules matched",
    ]
    about = {row[0]: row[1] for row in book["About"].iter_rows(min_row=2, values_only=True)}
    assert about["Suppression threshold"] == "5" and about["Period"] == "October 2026"


def test_the_workbook_keeps_numbers_as_numbers_and_hidden_cells_as_the_marker(report):
    sheet = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))["Outcomes by source"]
    assert sheet["A1"].value == "Outcomes by source"
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert list(rows[0]) == OUTCOMES[0]
    assert list(rows[1]) == ["Patient organisation", "<5", "<5", "<5", "<5", "<5", "<5"]
    assert list(rows[2]) == ["Clinic", 20, "<5", "<5", 40, 0.5, 45]
    assert list(rows[3]) == ["Pharmacy", 25, 10, 8, 43, 25 / 43, 90]
    assert sheet["F6"].number_format == "0.0%"  # Pharmacy's rate shows as 58.1%
    assert sheet["B6"].number_format == "#,##0"


def test_a_formula_in_a_workbook_cell_is_text(report):
    sheet = openpyxl.load_workbook(io.BytesIO(render_xlsx(report)))["Routing rules matched"]
    cell = sheet["A5"]
    assert cell.value == INJECTION and cell.data_type == "s"
    assert sheet["C5"].value is None  # no value


def test_sheet_names_are_short_unique_and_legal():
    names = sheet_names(["A" * 40, "a" * 40, "Rules: x/y?", "About"])
    assert names == ["A" * 31, "a" * 27 + " (2)", "Rules  x y", "About (2)"]
    assert all(len(name) <= 31 for name in names)
