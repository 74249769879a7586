"""``refdesk intake import``: a per-row report, each row all-or-nothing, a file imported twice
creates nothing twice, and file-level problems are one clear line."""

import csv
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from refdesk.audit.models import AuditEvent
from refdesk.consent.models import ConsentRecord
from refdesk.governance.services import program_apply
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral, Rejection
from refdesk.portal.importer import CsvRow, import_definition, import_row, row_client_ref
from refdesk.programs.loader import load_program_files
from refdesk.referrers.services import referrer_deactivate
from refdesk.testing import DEMO_FILES, make_referrer

pytestmark = pytest.mark.django_db

HEADER = [
    "request_type", "given_name", "family_name", "email", "phone", "preferred_contact",
    "timezone", "country", "birth_year", "consent_granted", "consent_purposes",
    "consent_channels", "consent_method", "consent_text_version", "answer.study_id",
    "answer.age", "answer.diagnosis_confirmed", "answer.ecog",
]  # fmt: skip


def trial_row(**overrides) -> dict:
    row = {
        "request_type": "trial_prescreen",
        "given_name": "Avery",
        "family_name": "Quill",
        "email": "avery.quill@example.org",
        "phone": "(617) 555-0142",
        "preferred_contact": "phone",
        "timezone": "America/Chicago",
        "country": "US",
        "birth_year": "1970",
        "consent_granted": "yes",
        "consent_purposes": "trial_contact",
        "consent_channels": "phone; email",
        "consent_method": "attested_by_referrer",
        "consent_text_version": "2026-01",
        "answer.study_id": "RDX-301",
        "answer.age": "54",
        "answer.diagnosis_confirmed": "Yes",
        "answer.ecog": "1",
    }
    row.update(overrides)
    return row


@pytest.fixture
def coordinator(tmp_path):
    """Trial prescreening with bulk upload allowed for study coordinators (the demo allows
    web and API only), so every column type is exercised on one program."""
    files = []
    for path in DEMO_FILES:
        text = path.read_text()
        if path.name == "trial-prescreening.yaml":
            text = text.replace(
                "submission_methods: [web, api]", "submission_methods: [web, api, bulk]", 1
            )  # noqa: E501
        (tmp_path / path.name).write_text(text)
        files.append(tmp_path / path.name)
    program_apply(programs=load_program_files(files), actor="system:test", note="bulk tests")
    return make_referrer("trial-prescreening", "study-coordinator")


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(
                [row.get(name, "") for name in header] if isinstance(row, dict) else row
            )
    return path


def run_import(*args) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("intake", "import", *args, stdout=out)
    except CommandError as failure:
        assert "\n" not in str(failure)
        return out.getvalue() + f"ERROR {failure}", failure.returncode
    return out.getvalue(), 0


@pytest.fixture
def mixed_file(tmp_path):
    return write_csv(
        tmp_path / "mixed.csv",
        [
            trial_row(),  # row 2: accepted
            trial_row(email="not-an-email", phone="12", given_name="Secretname"),  # 3: rejected
            trial_row(  # row 4: accepted, but the study id and the contact method are missing
                given_name="Blake",
                email="blake@example.org",
                phone="(617) 555-0177",
                preferred_contact="",
                **{"answer.study_id": ""},
            ),
            ["trial_prescreen", "too", "few"],  # row 5: wrong number of cells
            trial_row(given_name="Casey", email="casey@example.org", consent_granted="maybe"),
        ],
    )


def test_a_mixed_file_gets_a_per_row_report_and_exit_1(coordinator, mixed_file):
    output, code = run_import(str(mixed_file), "--referrer", coordinator.code, "--as", "alice")
    assert code == 1
    lines = output.splitlines()
    accepted = Referral.objects.order_by("received_at", "id")
    first, second = accepted
    assert f"row 2: accepted {first.reference}" in lines
    assert "row 3: rejected" in lines
    assert "    lead.email invalid_email: This is not a valid email address." in lines
    assert any(line.startswith("    lead.phone invalid_phone:") for line in lines)
    assert (
        f"row 4: accepted {second.reference}, needs info: answers.study_id, lead.preferred_contact"
        in lines
    )
    assert "row 5: rejected" in lines
    assert any("row wrong_cell_count: This row has 3 cells; the header has 18." in x for x in lines)
    assert "row 6: rejected" in lines
    assert any(line.startswith("    consent.granted invalid_boolean:") for line in lines)
    assert "5 row(s): 2 accepted, 0 already imported, 3 rejected" in lines
    assert output.endswith("ERROR 3 row(s) rejected")
    # Field errors name the field, never the value.
    assert "Secretname" not in output and "not-an-email" not in output


def test_rejected_rows_write_nothing_and_accepted_rows_are_stored_as_bulk(coordinator, mixed_file):
    run_import(str(mixed_file), "--referrer", coordinator.code, "--as", "alice")
    assert Referral.objects.count() == 2
    assert set(Referral.objects.values_list("submission_method", flat=True)) == {"bulk"}
    assert ConsentRecord.objects.count() == 2
    submitted = AuditEvent.objects.filter(action="referral.submitted")
    assert submitted.count() == 2 and {e.actor for e in submitted} == {"cli:alice"}
    first = Referral.objects.exclude(stage=Stage.NEEDS_INFO).get()
    # Types converted from text using the program's answer types.
    assert first.answers == {
        "study_id": "RDX-301", "age": 54, "diagnosis_confirmed": True, "ecog": 1,
    }  # fmt: skip
    assert first.lead["birth_year"] == 1970 and first.lead["phone"] == "+16175550142"
    consent = ConsentRecord.objects.get(referral=first)
    assert consent.channels == ["email", "phone"] and consent.purposes == ["trial_contact"]


def test_the_same_file_twice_creates_nothing_twice(coordinator, mixed_file):
    run_import(str(mixed_file), "--referrer", coordinator.code)
    events = AuditEvent.objects.count()
    output, code = run_import(str(mixed_file), "--referrer", coordinator.code)
    assert Referral.objects.count() == 2
    assert AuditEvent.objects.count() == events
    references = list(
        Referral.objects.order_by("received_at", "id").values_list("reference", flat=True)
    )
    assert f"row 2: already imported as {references[0]}" in output
    assert f"row 4: already imported as {references[1]}" in output
    assert "5 row(s): 0 accepted, 2 already imported, 3 rejected" in output


def test_a_client_ref_column_names_the_row_across_edits(coordinator, tmp_path):
    header = [*HEADER, "client_ref"]
    first = write_csv(tmp_path / "a.csv", [trial_row(client_ref="site-7-0001")], header)
    run_import(str(first), "--referrer", coordinator.code)
    # The same row corrected later (a different phone): still the same referral.
    edited = write_csv(
        tmp_path / "b.csv", [trial_row(client_ref="site-7-0001", phone="(617) 555-0199")], header
    )
    output, code = run_import(str(edited), "--referrer", coordinator.code)
    assert code == 0 and "already imported" in output
    assert Referral.objects.get().client_ref == "site-7-0001"


def test_without_a_client_ref_the_row_key_ignores_spacing_but_not_content():
    row = trial_row()
    assert row_client_ref(row) == row_client_ref({**row, "given_name": "  Avery "})
    assert row_client_ref(row) != row_client_ref({**row, "given_name": "Avril"})
    assert "Avery" not in row_client_ref(row)


def test_a_dry_run_reports_every_row_and_writes_nothing(coordinator, mixed_file):
    events = AuditEvent.objects.count()
    output, code = run_import(str(mixed_file), "--referrer", coordinator.code, "--dry-run")
    assert code == 1
    assert "row 2: would be accepted" in output
    assert (
        "row 4: would be accepted, needs info: answers.study_id, lead.preferred_contact" in output
    )
    assert "5 row(s): 2 would be accepted, 0 already imported, 3 rejected" in output
    assert "dry run: nothing written" in output
    assert Referral.objects.count() == 0 and ConsentRecord.objects.count() == 0
    assert AuditEvent.objects.count() == events


def test_a_row_preferring_email_without_an_email_is_rejected_with_the_reason(coordinator, tmp_path):
    # The same rule as the web form and the API: not accepted as incomplete and chased later.
    path = write_csv(tmp_path / "email.csv", [trial_row(preferred_contact="email", email="")])
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 1 and "row 2: rejected" in output
    assert (
        "    lead.email contact_detail_required: The person prefers email: give their email "
        "address, or choose another way to contact them." in output.splitlines()
    )
    assert Referral.objects.count() == 0


def test_an_all_good_file_exits_0(coordinator, tmp_path):
    path = write_csv(tmp_path / "good.csv", [trial_row()])
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 0 and "1 row(s): 1 accepted" in output


def test_a_file_with_a_byte_order_mark_is_read(coordinator, tmp_path):
    path = write_csv(tmp_path / "bom.csv", [trial_row()])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 0 and Referral.objects.count() == 1


def test_a_source_without_bulk_upload_is_refused(tmp_path):

    navigator = make_referrer("trial-prescreening", "patient-navigator")
    path = write_csv(tmp_path / "good.csv", [trial_row()])
    output, code = run_import(str(path), "--referrer", navigator.code)
    assert code == 1
    assert "does not accept bulk uploads (it takes: web, api)" in output


def _file_error(coordinator, path) -> str:
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 1
    assert Referral.objects.count() == 0
    return output


def test_a_missing_file_is_one_clear_line(coordinator, tmp_path):
    assert "no such file" in _file_error(coordinator, tmp_path / "absent.csv")


def test_a_file_that_is_not_utf8_is_one_clear_line(coordinator, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(",".join(HEADER).encode() + "\ntrial_prescreen,Zoë\n".encode("latin-1"))
    assert "line 2 is not UTF-8 text; save the file as CSV UTF-8" in _file_error(coordinator, path)


def test_an_empty_file_is_one_clear_line(coordinator, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\n  \n")
    assert "the file is empty" in _file_error(coordinator, path)


def test_a_header_without_rows_is_one_clear_line(coordinator, tmp_path):
    path = write_csv(tmp_path / "header.csv", [])
    assert "has a header but no rows" in _file_error(coordinator, path)


def test_unknown_and_missing_columns_are_named(coordinator, tmp_path):
    header = [name for name in HEADER if name != "request_type"] + ["shoe_size", "answer.mood"]
    path = write_csv(tmp_path / "bad.csv", [trial_row()], header)
    output = _file_error(coordinator, path)
    assert "unknown columns: shoe_size, answer.mood" in output
    assert "missing columns: request_type" in output
    assert "answer.ecog" in output  # it lists the answer columns this program takes


def test_an_unknown_referrer_code_is_one_clear_line(coordinator, tmp_path):
    path = write_csv(tmp_path / "good.csv", [trial_row()])
    output, code = run_import(str(path), "--referrer", "K7Q3M9X")
    assert code == 1 and "no referrer has that code" in output


def test_an_inactive_referrer_is_one_clear_line(coordinator, tmp_path):
    call_command("referrer", "deactivate", coordinator.code, stdout=StringIO())
    path = write_csv(tmp_path / "good.csv", [trial_row()])
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 1 and "may no longer refer" in output


def test_cells_convert_by_the_programs_answer_types(coordinator):
    from refdesk.portal.importer import row_submission
    from refdesk.programs.selectors import version_definition

    definition = version_definition(coordinator.source.program.active_version)
    cells = trial_row(
        **{
            "answer.diagnosis_confirmed": "records requested",
            "answer.ecog": "two",  # left as text: the service reports invalid_integer
            "answer.age": "-3",
            "birth_year": "",
        }
    )
    cells["answer.active_brain_metastases"] = "NO"
    submission, errors = row_submission(cells, definition)
    assert errors == []
    assert submission.answers["diagnosis_confirmed"] == "records_requested"
    assert submission.answers["ecog"] == "two"
    assert submission.answers["age"] == -3
    assert submission.answers["active_brain_metastases"] is False
    assert "birth_year" not in submission.lead
    assert submission.consent["granted"] is True


def test_the_documented_example_file_imports_cleanly(tmp_path):
    from refdesk.testing import PROJECT_ROOT

    partner = make_referrer("provider-education", "event-partner")
    example = PROJECT_ROOT / "docs" / "import-example.csv"
    output, code = run_import(str(example), "--referrer", partner.code)
    assert code == 0, output
    assert "3 row(s): 3 accepted, 0 already imported, 0 rejected" in output
    assert Referral.objects.filter(lead_kind="clinician", submission_method="bulk").count() == 3


@pytest.fixture
def rejected_rows_file(tmp_path):
    return write_csv(
        tmp_path / "rows.csv",
        [
            trial_row(),  # row 2: accepted
            trial_row(
                email="zebulon.quartz@nowhere-such",
                phone="0199 4242 0199 4242 77",
                given_name="Zebulon",
            ),  # 3: two field errors
            ["trial_prescreen", "too", "few"],  # row 4: wrong number of cells
            trial_row(given_name="Casey", email="casey@example.org", consent_granted="maybe"),
        ],
    )


def test_each_rejected_row_of_an_import_is_counted_by_code_without_values(
    coordinator, rejected_rows_file
):
    output, code = run_import(str(rejected_rows_file), "--referrer", coordinator.code)
    assert code == 1 and Referral.objects.count() == 1
    counted = Rejection.objects.values_list("program__slug", "source__slug", "method")
    assert set(counted) == {("trial-prescreening", "study-coordinator", "bulk")}
    # Row 4's error is about the whole row, not a field.
    assert sorted(Rejection.objects.values_list("field", "code")) == [
        ("", "wrong_cell_count"),
        ("consent.granted", "invalid_boolean"),
        ("lead.email", "invalid_email"),
        ("lead.phone", "invalid_phone"),
    ]
    stored = json.dumps(list(Rejection.objects.values()), default=str)
    for value in ("4242", "0199", "zebulon", "quartz", "nowhere", "Avery", "Quill", "maybe"):
        assert value not in stored


def test_a_dry_run_counts_no_rejection_it_is_a_check_not_a_submission(
    coordinator, rejected_rows_file
):
    output, code = run_import(str(rejected_rows_file), "--referrer", coordinator.code, "--dry-run")
    assert code == 1 and "4 row(s): 1 would be accepted, 0 already imported, 3 rejected" in output
    assert Rejection.objects.count() == 0


def test_a_row_refused_for_the_referrer_not_its_content_is_not_counted(coordinator):
    definition = import_definition(coordinator)
    referrer_deactivate(referrer=coordinator, actor="system:test", reason="left mid-file")
    coordinator.refresh_from_db()
    outcome = import_row(
        referrer=coordinator,
        definition=definition,
        row=CsvRow(2, trial_row()),
        actor="system:test",
        dry_run=False,
    )
    assert outcome.status == "rejected" and outcome.errors[0]["code"] == "referrer_inactive"
    assert Rejection.objects.count() == 0


# The text rule (docs/input-rules.md), as on the web form and the API: named, never echoed.
SECRET = "Zebulonquartz"


def test_bulk_import_refuses_a_direction_override_in_a_name(coordinator, tmp_path):
    spoofed = f"{SECRET}\u202eeva"  # a right-to-left override inside a name
    path = write_csv(tmp_path / "spoof.csv", [trial_row(given_name=spoofed), trial_row()])
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 1
    lines = output.splitlines()
    assert "row 2: rejected" in lines
    assert any(
        line.startswith("    lead.given_name invalid_characters: This contains a text-direction")
        for line in lines
    )
    assert SECRET not in output
    assert Referral.objects.count() == 1  # the good row


def test_bulk_import_refuses_nul_and_escape_sequences(coordinator, tmp_path):
    path = write_csv(
        tmp_path / "controls.csv",
        [trial_row(family_name="Quill\x1b[2J"), trial_row(**{"answer.study_id": "RDX\x00301"})],
    )
    output, code = run_import(str(path), "--referrer", coordinator.code)
    assert code == 1
    assert "    lead.family_name invalid_characters: This contains a control" in output
    assert "    answers.study_id invalid_characters: This contains a control" in output
    assert Referral.objects.count() == 0
