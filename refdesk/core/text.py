"""The one text-hygiene rule for everything a person types: names, free text, staff notes.

Pure functions. ``text_check`` normalises a value (NFC; in multi-line text ``\\r\\n`` and a lone
``\\r`` become ``\\n``) and says whether it holds a character that must not be stored:

- ``control``: Unicode control characters (category Cc: NUL, ESC of ANSI escape sequences,
  DEL, C1 controls ...) and the line/paragraph separators U+2028/U+2029. Multi-line free text
  may contain ``\\n`` and ``\\t``; nothing else may.
- ``bidi``: the direction controls: embeddings and overrides (U+202A-U+202E), isolates
  (U+2066-U+2069) and the marks LRM, RLM and ALM (U+200E, U+200F, U+061C). They reorder what
  the console shows ("name spoofing") and are never needed in a name or a note.
- ``invisible``: every other format character (category Cf: zero-width space U+200B, word
  joiner U+2060, BOM U+FEFF, soft hyphen U+00AD, invisible operators, tag characters ...) and
  the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0: letters that draw nothing).
  The zero-width non-joiner and joiner (U+200C, U+200D) are the exception: Persian writes
  with ZWNJ and Indic scripts shape conjuncts with both, so they are accepted exactly where
  IDNA2008's CONTEXTJ rules (RFC 5892, Appendix A, implemented by the ``idna`` package) accept
  them -- after a virama, or a ZWNJ between Arabic-script letters that join -- and refused
  anywhere else (between Latin letters they only hide a difference).
- ``not_a_character``: surrogates (a JSON ``\\ud800`` escape), noncharacters, unassigned
  code points and private-use characters.

Errors carry the stable code ``invalid_characters``; their message names the kind and the
position, never the value (it may be patient data). docs/input-rules.md is the user's version.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from idna.core import valid_contextj

INVALID_CHARACTERS = "invalid_characters"

BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
JOINERS = frozenset("\u200c\u200d")
# Letters (category Lo) that render as nothing: a name made of them looks empty or like another.
HANGUL_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
MULTILINE_ALLOWED = frozenset("\n\t")
# How much of the text around a joiner its context rule reads (it walks over transparent
# marks to the nearest joining letter; real words never need more).
_JOINER_WINDOW = 32

KIND_MESSAGES = {
    "control": "a control character (such as NUL, an escape code or a line break)",
    "bidi": "a text-direction control character (such as a right-to-left override)",
    "invisible": "an invisible formatting character (such as a zero-width space)",
    "not_a_character": "a code point that is not a usable character",
}


class TextProblem(NamedTuple):
    kind: str  # a key of KIND_MESSAGES
    position: int  # 1-based, in the normalised text

    @property
    def message(self) -> str:
        return self.message_about("This")

    def message_about(self, subject: str) -> str:
        """The message with its subject named ("The note", "The referrer's name")."""
        return (
            f"{subject} contains {KIND_MESSAGES[self.kind]} at character {self.position}; "
            "remove it and type the text again."
        )


def _joiner_allowed(text: str, index: int) -> bool:
    start = max(0, index - _JOINER_WINDOW)
    window = text[start : index + _JOINER_WINDOW + 1]
    try:
        return valid_contextj(window, index - start)
    except ValueError:  # a neighbour without a Unicode name: reported on its own
        return False


def _kind(text: str, index: int, multiline: bool) -> str | None:
    char = text[index]
    if multiline and char in MULTILINE_ALLOWED:
        return None
    category = unicodedata.category(char)
    if category == "Cc" or category in ("Zl", "Zp"):
        return "control"
    if char in BIDI_CONTROLS:
        return "bidi"
    if char in JOINERS:
        return None if _joiner_allowed(text, index) else "invisible"
    if category == "Cf" or char in HANGUL_FILLERS:
        return "invisible"
    if category in ("Cs", "Cn", "Co"):
        return "not_a_character"
    return None


_NEWLINES = re.compile(r"\r\n?")


def normalise(value: str, *, multiline: bool = False) -> str:
    """NFC, and in multi-line text every line break as ``\\n`` (lone surrogates pass through
    NFC unchanged, for ``text_problem`` to report)."""
    if multiline:
        value = _NEWLINES.sub("\n", value)
    return unicodedata.normalize("NFC", value)


def text_problem(value: str, *, multiline: bool = False) -> TextProblem | None:
    """The first forbidden character of ``value`` (already normalised), or None."""
    if value.isascii():
        # Fast path for most input: only the C0 controls and DEL can be wrong in ASCII.
        for index, char in enumerate(value):
            if (char < " " or char == "\x7f") and not (multiline and char in MULTILINE_ALLOWED):
                return TextProblem("control", index + 1)
        return None
    for index in range(len(value)):
        kind = _kind(value, index, multiline)
        if kind is not None:
            return TextProblem(kind, index + 1)
    return None


def text_check(value: str, *, multiline: bool = False) -> tuple[str, TextProblem | None]:
    """(the normalised value, its first problem or None): the rule every door applies."""
    cleaned = normalise(value, multiline=multiline)
    return cleaned, text_problem(cleaned, multiline=multiline)


def text_error(field: str, problem: TextProblem) -> dict:
    """The ``{"field", "code", "message"}`` error every interface renders for a problem."""
    return {"field": field, "code": INVALID_CHARACTERS, "message": problem.message}


def strip_forbidden(value: str, *, multiline: bool = False) -> str:
    """The normalised value without its forbidden characters: for values nobody can correct
    (campaign tags carried along with a submission), where refusing would lose the referral."""
    value = normalise(value, multiline=multiline)
    while (problem := text_problem(value, multiline=multiline)) is not None:
        # One at a time: removing a character can change a joiner's context.
        value = normalise(
            value[: problem.position - 1] + value[problem.position :], multiline=multiline
        )
    return value
