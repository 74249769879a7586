"""The same lead again within the program's window is a duplicate of the first referral, matched
on exactly the keys the program names in ``duplicates.match_on`` — no more, no fewer."""

from __future__ import annotations

from pathlib import Path

import pytest

from refdesk.governance.services import program_apply
from refdesk.intake.choices import Outcome
from refdesk.programs.loader import load_program_text
from refdesk.testing import PROGRAMS_DIR, education, make_referrer, submit, support, valid_npi
from refdesk.workflow.submission import referral_submit

pytestmark = pytest.mark.django_db


def test_a_clinician_referred_again_with_another_email_is_found_by_npi():
    """provider-education matches on email, phone and npi; the NPI key was never used."""
    npi = valid_npi(7)
    first = submit("provider-education", education(1, npi=npi))
    again = submit("provider-education", education(2, npi=npi))  # another email, same NPI
    assert again.outcome == Outcome.DUPLICATE and again.duplicate_of == first
    other = submit("provider-education", education(3, npi=valid_npi(8)))
    assert other.outcome == ""


def _variant(slug: str, match_on: str):
    """patient-support as another program that matches duplicates on ``match_on`` only."""
    text = (PROGRAMS_DIR / "patient-support.yaml").read_text()
    text = text.replace("id: patient-support", f"id: {slug}", 1)
    text = text.replace("match_on: [email, phone]", f"match_on: {match_on}", 1)
    loaded = load_program_text(text, filename=Path(f"{slug}.yaml"))
    program_apply(programs=[loaded], actor="system:test", note="duplicate keys")
    return make_referrer(slug, "patient-org")


def _support(referrer, n, **lead):
    submission = support(n)
    submission.lead.update(lead)
    return referral_submit(
        referrer=referrer, submission=submission, method="web", actor=referrer
    ).referral


def test_a_key_the_program_does_not_match_on_never_makes_a_duplicate():
    referrer = _variant("support-email-only", "[email]")
    first = _support(referrer, 1, email="robin@example.net")
    same_phone = _support(referrer, 1, email="another@example.net")  # support(1): same phone
    assert same_phone.outcome == "" and same_phone.duplicate_of is None
    same_email = _support(referrer, 2, email="robin@example.net")
    assert same_email.duplicate_of == first


def test_name_and_birth_year_match_when_the_program_says_so():
    referrer = _variant("support-by-name", "[name_and_birth_year]")
    first = _support(referrer, 1, given_name="Alex", family_name="Moreno", birth_year=1960)
    spelled = _support(referrer, 2, given_name=" alex", family_name="MORENO", birth_year=1960)
    assert spelled.duplicate_of == first
    other_year = _support(referrer, 3, given_name="Alex", family_name="Moreno", birth_year=1961)
    assert other_year.duplicate_of is None


def test_the_migration_that_indexes_earlier_referrals_computes_the_same_indexes():
    """Migrations do not import app code: its copies of the two blind indexes must agree."""
    import importlib

    from refdesk.core.crypto import name_index, npi_index

    migration = importlib.import_module(
        "refdesk.intake.migrations.0007_index_npi_and_name_of_recent_referrals"
    )
    for npi in ("1234567893", " 1234-567-893 ", ""):
        assert migration.npi_index(npi) == npi_index(npi)
    for name in (("Ana", "Núñez", 1971), (" ana ", "NÚÑEZ", "1971"), ("Ana", "", 1971)):
        assert migration.name_index(*name) == name_index(*name)


def test_the_migration_indexes_a_referral_received_before_it(db):
    import importlib

    from django.apps import apps

    from refdesk.intake.models import Referral

    migration = importlib.import_module(
        "refdesk.intake.migrations.0007_index_npi_and_name_of_recent_referrals"
    )
    earlier = submit("provider-education", education(9, npi=valid_npi(9)))
    Referral.objects.filter(pk=earlier.pk).update(npi_index="", name_index="")
    migration.index(apps, None)
    assert Referral.objects.get(pk=earlier.pk).npi_index == earlier.npi_index != ""
