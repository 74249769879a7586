"""The one text rule (refdesk/core/text.py): what is refused, what is kept, and as what."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refdesk.core.text import (
    BIDI_CONTROLS,
    HANGUL_FILLERS,
    INVALID_CHARACTERS,
    strip_forbidden,
    text_check,
    text_error,
)

PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # mi-khaham: ZWNJ after a non-joiner
DEVANAGARI = "\u0915\u094d\u200d\u0937"  # ka + virama + ZWJ + ssa: a half form


@pytest.mark.parametrize(
    ("value", "kind", "position"),
    [
        ("Ana\x00", "control", 4),
        ("\x1b[31mAna", "control", 1),
        ("Ana\x7f", "control", 4),
        ("An\x85a", "control", 3),  # C1 NEL
        ("Ana\nLee", "control", 4),  # single-line: no line breaks
        ("Ana\u2028Lee", "control", 4),
        ("A\u202ena", "bidi", 2),
        ("A\u202ana", "bidi", 2),
        ("A\u2066na\u2069", "bidi", 2),
        ("A\u200fna", "bidi", 2),
        ("A\u200bna", "invisible", 2),
        ("A\u2060na", "invisible", 2),
        ("\ufeffAna", "invisible", 1),
        ("An\u00ada", "invisible", 3),
        ("A\u200dna", "invisible", 2),  # ZWJ between Latin letters only hides a difference
        ("A\u200cna", "invisible", 2),
        ("\u3164", "invisible", 1),
        ("A\ud800na", "not_a_character", 2),
        ("A\ue000na", "not_a_character", 2),
        ("A\uffffna", "not_a_character", 2),
    ],
)
def test_single_line_text_is_refused_naming_the_kind_and_position(value, kind, position):
    _cleaned, problem = text_check(value)
    assert (problem.kind, problem.position) == (kind, position)
    assert f"character {position}" in problem.message
    assert value not in problem.message


@pytest.mark.parametrize(
    "value", ["Ana", "Zoë", "O'Brien-Smith", "José María", "李小龍", PERSIAN, DEVANAGARI, "Ana 👍"]
)
def test_real_names_are_accepted(value):
    assert text_check(value)[1] is None


def test_text_is_nfc_normalised():
    cleaned, problem = text_check("Zoe\u0308")
    assert problem is None and cleaned == "Zo\u00eb"


def test_multi_line_text_keeps_newlines_and_tabs_and_normalises_line_ends():
    cleaned, problem = text_check("one\r\ntwo\rthree\n\tfour", multiline=True)
    assert problem is None and cleaned == "one\ntwo\nthree\n\tfour"
    assert text_check("a\x00b", multiline=True)[1].kind == "control"
    assert text_check("a\x0bb", multiline=True)[1].kind == "control"  # vertical tab


def test_the_error_has_the_stable_code_and_names_the_field():
    _cleaned, problem = text_check("A\u202ena")
    error = text_error("lead.given_name", problem)
    assert error["field"] == "lead.given_name" and error["code"] == INVALID_CHARACTERS
    assert "right-to-left" in error["message"]


def test_strip_forbidden_removes_only_forbidden_characters():
    assert strip_forbidden("spring\u202e-\u200b2026\x00") == "spring-2026"
    assert strip_forbidden(PERSIAN) == PERSIAN


# --- properties ---------------------------------------------------------------------------------

FORBIDDEN_EXAMPLES = (
    [chr(c) for c in range(0x20)]
    + ["\x7f", "\x85", "\u2028", "\u2029", "\u200b", "\u2060", "\ufeff", "\u00ad", "\u2061"]
    + sorted(BIDI_CONTROLS)
    + sorted(HANGUL_FILLERS)
    + ["\ud800", "\udfff", "\ue000", "\ufffe", "\U000e0001"]
)


def _forbidden(char: str, multiline: bool) -> bool:
    """The rule restated from Unicode categories, independently of the implementation."""
    if multiline and char in "\n\t":
        return False
    category = unicodedata.category(char)
    return (
        category in ("Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp")
        and char not in "\u200c\u200d"
        or char in HANGUL_FILLERS
    )


@given(
    before=st.text(max_size=20),
    bad=st.sampled_from(FORBIDDEN_EXAMPLES),
    after=st.text(max_size=20),
    multiline=st.booleans(),
)
def test_any_text_holding_a_forbidden_character_is_refused(before, bad, after, multiline):
    if multiline and bad in "\n\t\r":
        return  # allowed (or normalised) in multi-line text
    _cleaned, problem = text_check(before + bad + after, multiline=multiline)
    assert problem is not None


@given(value=st.text(max_size=60), multiline=st.booleans())
def test_accepted_text_contains_no_forbidden_character(value, multiline):
    cleaned, problem = text_check(value, multiline=multiline)
    if problem is None:
        assert not any(_forbidden(char, multiline) for char in cleaned)
        assert "\r" not in cleaned
        assert unicodedata.normalize("NFC", cleaned) == cleaned


@given(value=st.text(max_size=60), multiline=st.booleans())
def test_stripped_text_is_always_accepted(value, multiline):
    assert text_check(strip_forbidden(value, multiline=multiline), multiline=multiline)[1] is None
