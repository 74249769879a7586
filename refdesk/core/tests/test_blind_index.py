"""The blind index finds the same lead however its email or phone was typed."""

import pytest

from refdesk.core.crypto import email_index, phone_index


@pytest.mark.parametrize(
    "typed",
    [
        "ann.lee@example.org",
        "ANN.LEE@EXAMPLE.ORG",
        "  Ann.Lee@Example.org ",
        "ann.lee @example.org",
    ],
)
def test_emails_match_whatever_the_case_and_spaces(typed):
    assert email_index(typed) == email_index("ann.lee@example.org")


@pytest.mark.parametrize(
    "typed",
    ["(617) 555-0142", "617-555-0142", "+1 617 555 0142", "+16175550142", "1 (617) 555-0142"],
)
def test_phones_match_in_national_and_international_format(typed):
    assert phone_index(typed, "US") == phone_index("+16175550142")


def test_a_uk_number_matches_in_both_formats():
    assert phone_index("020 7946 0123", "GB") == phone_index("+44 20 7946 0123", "US")


def test_different_values_do_not_match_and_kinds_never_collide():
    assert email_index("a@example.org") != email_index("b@example.org")
    assert phone_index("+16175550142") != phone_index("+16175550143")
    assert email_index("x@example.org") != phone_index("+16175550142")
    assert email_index("") == "" and phone_index("not a phone") == ""


def test_the_index_is_keyed(settings):
    before = email_index("ann.lee@example.org")
    settings.BLIND_INDEX_KEY = "another-key-" + "q" * 40
    assert email_index("ann.lee@example.org") != before
