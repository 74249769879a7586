"""``refdesk referrer`` and ``refdesk partner``: happy paths, and one-line errors with exit 1."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import PermissionDenied
from refdesk.core.references import parse_referrer_code
from refdesk.referrers.models import PartnerKey, Referrer, Source
from refdesk.referrers.services import partner_key_authenticate
from refdesk.testing import make_referrer

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def fails(*args) -> str:
    with pytest.raises(CommandError) as failure:
        run(*args)
    assert failure.value.returncode == 1
    message = str(failure.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# -- referrer add ------------------------------------------------------------------------------


def test_referrer_add_prints_a_valid_code_and_its_intake_link(settings):
    settings.REFDESK_BASE_URL = "https://refer.example.com"
    output = run(
        "referrer", "add", "--program", "trial-prescreening", "--source", "study-coordinator",
        "--name", "Dana Whitfield", "--email", "Dana@Site.Example.org", "--as", "alice",
    )  # fmt: skip
    code = output.split("code: ")[1].split()[0]
    assert parse_referrer_code(code) == code
    assert f"link: https://refer.example.com/r/{code}" in output
    referrer = Referrer.objects.get(code=code)
    assert referrer.name == "Dana Whitfield"
    assert referrer.email == "Dana@site.example.org"  # domain normalised
    assert str(referrer.source) == "trial-prescreening/study-coordinator"
    event = AuditEvent.objects.get(action="referrer.created")
    assert event.actor == "cli:alice"


def test_referrer_add_takes_an_organisation_kind():
    output = run(
        "referrer", "add", "--program", "patient-support", "--source", "patient-org",
        "--name", "Lung Friends", "--kind", "organization", "--organization", "Lung Friends Inc",
    )  # fmt: skip
    referrer = Referrer.objects.get(code=output.split("code: ")[1].split()[0])
    assert (referrer.kind, referrer.organization) == ("organization", "Lung Friends Inc")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--program", "nope", "--source", "study-coordinator"), "no program 'nope'"),
        (("--program", "trial-prescreening", "--source", "nope"), "has no source 'nope'"),
        (
            ("--program", "trial-prescreening", "--source", "study-coordinator", "--email", "x@"),
            "--email is not a valid email address",
        ),
    ],
)
def test_referrer_add_refuses_bad_input_in_one_line(args, expected):
    message = fails("referrer", "add", "--name", "Dana", *args)
    assert expected in message
    assert not Referrer.objects.exists()


def test_referrer_add_refuses_an_inactive_source():
    Source.objects.filter(slug="study-coordinator").update(active=False)
    message = fails(
        "referrer", "add", "--program", "trial-prescreening", "--source", "study-coordinator",
        "--name", "Dana",
    )  # fmt: skip
    assert "no longer active" in message


# -- referrer deactivate / list ----------------------------------------------------------------


def test_referrer_deactivate_stops_the_code_and_records_the_reason():
    referrer = make_referrer("trial-prescreening", "study-coordinator")
    output = run("referrer", "deactivate", referrer.code.lower(), "--reason", "left the site")
    assert f"{referrer.code} deactivated" in output
    referrer.refresh_from_db()
    assert not referrer.active
    assert AuditEvent.objects.get(action="referrer.deactivated").reason == "left the site"
    assert "already inactive" in run("referrer", "deactivate", referrer.code)


def test_referrer_deactivate_of_an_unknown_code_fails():
    assert "no referrer has that code" in fails("referrer", "deactivate", "K7Q3M9X")


def test_referrer_list_shows_code_name_source_and_active_for_one_program():
    trial = make_referrer("trial-prescreening", "study-coordinator", name="Dana Whitfield")
    other = make_referrer("patient-support", "patient-org", name="Lung Friends")
    output = run("referrer", "list", "--program", "trial-prescreening")
    lines = output.splitlines()
    assert lines[0].split() == ["code", "name", "source", "active"]
    assert trial.code in output and "Dana Whitfield" in output
    assert "trial-prescreening/study-coordinator" in output and lines[1].endswith("yes")
    assert other.code not in output
    assert other.code in run("referrer", "list")


def test_referrer_list_of_an_unknown_program_fails():
    assert "no program 'nope'" in fails("referrer", "list", "--program", "nope")


# -- partner keys ------------------------------------------------------------------------------


@pytest.fixture
def partner():
    return make_referrer("patient-support", "digital-health-partner", name="CarePath")


def test_partner_key_is_printed_once_and_only_its_hash_is_stored(partner):
    output = run("partner", "key", "--referrer", partner.code, "--as", "alice")
    key = output.split("key: ")[1].split()[0]
    prefix = output.split("prefix: ")[1].split()[0]
    assert key.startswith(prefix)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM referrers_partnerkey")
        raw = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert key not in raw
    assert key[len(prefix) :] not in raw
    assert partner_key_authenticate(key=key).referrer == partner
    assert key not in " ".join(str(e.changes) for e in AuditEvent.objects.all())


def test_partner_key_for_an_unknown_or_inactive_referrer_fails(partner):
    assert "no referrer has that code" in fails("partner", "key", "--referrer", "K7Q3M9X")
    run("referrer", "deactivate", partner.code)
    assert "inactive" in fails("partner", "key", "--referrer", partner.code)
    assert not PartnerKey.objects.exists()


def test_a_revoked_key_can_no_longer_authenticate(partner):
    output = run("partner", "key", "--referrer", partner.code)
    key = output.split("key: ")[1].split()[0]
    prefix = output.split("prefix: ")[1].split()[0]
    assert f"{prefix} revoked" in run("partner", "revoke", prefix, "--reason", "leaked")
    with pytest.raises(PermissionDenied):
        partner_key_authenticate(key=key)
    assert AuditEvent.objects.get(action="partner_key.revoked").reason == "leaked"
    assert "already revoked" in run("partner", "revoke", prefix)


def test_revoking_an_unknown_prefix_fails():
    assert "no API key has the prefix" in fails("partner", "revoke", "rdk_nothing")


def test_partner_keys_lists_prefix_created_last_used_and_revoked(partner):
    first = run("partner", "key", "--referrer", partner.code).split("prefix: ")[1].split()[0]
    second = run("partner", "key", "--referrer", partner.code).split("prefix: ")[1].split()[0]
    run("partner", "revoke", first)
    lines = run("partner", "keys", "--referrer", partner.code).splitlines()
    assert lines[0].split()[:2] == ["prefix", "created"]
    first_line = next(line for line in lines if line.startswith(first))
    second_line = next(line for line in lines if line.startswith(second))
    assert first_line.split()[-1] != "-"  # revoked: a time
    assert second_line.split()[-1] == "-" and second_line.split()[-2] == "-"  # never used
    assert "rdk_" in first_line and "key:" not in "\n".join(lines)


def test_partner_keys_for_a_referrer_without_keys_says_so(partner):
    assert "has no API keys" in run("partner", "keys", "--referrer", partner.code)
