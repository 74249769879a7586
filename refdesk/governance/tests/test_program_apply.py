"""program apply: versions only on change, earlier referrals keep their version, all-or-nothing."""

import shutil

import pytest
from django.core.management import CommandError, call_command

from refdesk.audit.models import AuditEvent
from refdesk.programs.models import ImmutableRecord, Program, ProgramVersion
from refdesk.routing.models import Queue
from refdesk.testing import DEMO_FILES, apply_demo_programs, make_referrer, trial_submission
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db

TRIAL = DEMO_FILES[0]


def _edited_trial(tmp_path, old: str, new: str):
    path = tmp_path / "trial-prescreening.yaml"
    text = TRIAL.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _new_program(tmp_path, slug: str = "rdx-302-prescreening"):
    """The trial program's file as another program (the demo programs are applied already)."""
    path = tmp_path / f"{slug}.yaml"
    path.write_text(TRIAL.read_text().replace("id: trial-prescreening", f"id: {slug}", 1))
    return path


def test_apply_creates_teams_queues_sources_and_version_1(tmp_path, capsys):
    call_command("program", "apply", str(_new_program(tmp_path)), "--note", "first load")
    out = capsys.readouterr().out
    assert "rdx-302-prescreening: applied as version 1" in out
    program = Program.objects.get(slug="rdx-302-prescreening")
    assert program.active_version.number == 1
    assert program.active_version.note == "first load"
    assert program.owner_team.slug == "clinical-ops"
    assert Queue.objects.filter(
        slug="clinical-ops-prescreening", team__slug="clinical-ops"
    ).exists()
    assert set(program.sources.values_list("slug", flat=True)) == {
        "study-coordinator",
        "site-investigator",
        "patient-navigator",
    }
    applied = AuditEvent.objects.filter(
        action="program.version_applied", subject_id=str(program.public_id)
    )
    assert [event.changes["version"] for event in applied] == [{"old": None, "new": 1}]


def test_unchanged_content_makes_no_new_version(tmp_path, capsys):
    apply_demo_programs()
    # Comments and blank lines are not content.
    path = tmp_path / "trial-prescreening.yaml"
    path.write_text("# a comment\n\n" + TRIAL.read_text())
    call_command("program", "apply", str(path), "--note", "again")
    assert "unchanged at version 1" in capsys.readouterr().out
    assert ProgramVersion.objects.filter(program__slug="trial-prescreening").count() == 1


def test_an_edit_makes_version_2_while_earlier_referrals_keep_version_1(tmp_path):
    apply_demo_programs()
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    earlier = referral_submit(
        referrer=referrer, submission=trial_submission(), method="api", actor=referrer
    ).referral
    edited = _edited_trial(tmp_path, "name: ", "name: Renamed ")
    call_command("program", "apply", str(edited), "--note", "rename")
    program = Program.objects.get(slug="trial-prescreening")
    assert program.active_version.number == 2
    earlier.refresh_from_db()
    assert earlier.program_version.number == 1
    later = referral_submit(
        referrer=referrer,
        submission=trial_submission(lead={"email": "b@example.org", "phone": "+12125550111"}),
        method="api",
        actor=referrer,
    ).referral
    assert later.program_version.number == 2


def test_nothing_is_applied_when_any_file_is_invalid(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: broken\nunknown_key: 1\n")
    before = Program.objects.count()
    with pytest.raises(CommandError):
        call_command("program", "apply", str(_new_program(tmp_path)), str(bad), "--note", "x")
    assert str(bad) in capsys.readouterr().err
    assert Program.objects.count() == before
    assert not Program.objects.filter(slug="rdx-302-prescreening").exists()


def test_validate_exits_1_with_file_path_and_problem(tmp_path, capsys):
    edited = _edited_trial(tmp_path, "queue: clinical-ops-prescreening", "queue: no-such-queue")
    with pytest.raises(CommandError) as failure:
        call_command("program", "validate", str(edited))
    assert failure.value.returncode == 1
    err = capsys.readouterr().err
    assert str(edited) in err and "routes[" in err and "no-such-queue" in err


def test_diff_shows_the_change_against_the_active_version(tmp_path, capsys):
    apply_demo_programs()
    edited = _edited_trial(tmp_path, "name: ", "name: Renamed ")
    call_command("program", "diff", str(edited))
    out = capsys.readouterr().out
    assert "-name: " in out and "+name: Renamed " in out


def test_list_shows_versions_and_who_applied(tmp_path, capsys):
    call_command("program", "apply", str(_new_program(tmp_path)), "--note", "initial")
    call_command("program", "list")
    out = capsys.readouterr().out
    assert "trial-prescreening" in out and "system:test" in out and "test session" in out
    assert "rdx-302-prescreening" in out and "initial" in out


def test_a_version_cannot_be_changed_or_deleted():
    apply_demo_programs()
    version = ProgramVersion.objects.first()
    version.note = "rewritten"
    with pytest.raises(ImmutableRecord):
        version.save()
    with pytest.raises(ImmutableRecord):
        version.delete()


def test_apply_requires_a_note(tmp_path):
    with pytest.raises(CommandError):
        call_command("program", "apply", str(TRIAL), "--note", "  ")


def test_the_demo_files_validate_from_the_command_line(capsys):
    shutil.which("refdesk")  # the console script is what users run; call_command is the same
    call_command("program", "validate", *map(str, DEMO_FILES))
    assert capsys.readouterr().out.count(": ok") == 3
