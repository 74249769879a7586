"""Human-friendly identifiers: Crockford base32 with a Damm check character.

The alphabet leaves out I, L, O and U, so a code read over the phone is unambiguous; input is
normalised (I/L read as 1, O as 0, hyphens and spaces dropped). The check character catches every
single mistyped character and every swap of two adjacent characters.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_INDEX = {char: position for position, char in enumerate(ALPHABET)}
_CONFUSABLE = str.maketrans({"I": "1", "L": "1", "O": "0"})


def _times_x(value: int) -> int:
    """Multiply by x in GF(32) (polynomial x^5 + x^2 + 1)."""
    value <<= 1
    return value ^ 0b100101 if value & 0b100000 else value


def _fold(chars: str) -> int:
    # Damm's scheme over the quasigroup a*b = x*a + b in GF(32): it is totally anti-symmetric,
    # so every single substitution and every swap of two adjacent characters changes the result.
    interim = 0
    for char in chars:
        interim = _times_x(interim) ^ _INDEX[char]
    return interim


def check_character(body: str) -> str:
    """The character that makes the whole code fold to zero."""
    return ALPHABET[_times_x(_fold(body))]


def is_valid(code: str) -> bool:
    if len(code) < 2 or any(char not in _INDEX for char in code):
        return False
    return _fold(code) == 0


def normalise(text: str) -> str:
    return "".join(text.split()).replace("-", "").upper().translate(_CONFUSABLE)


def random_code(length: int) -> str:
    """``length`` characters in all, the last being the check character."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(length - 1))
    return body + check_character(body)


def new_referral_reference() -> str:
    """``RF-7K3Q-9M2X``: seven random characters (34 bits) and a check character."""
    code = random_code(8)
    return f"RF-{code[:4]}-{code[4:]}"


def parse_referral_reference(text: str) -> str | None:
    """The canonical ``RF-XXXX-XXXX`` form of a typed reference, or None when it is not one."""
    compact = normalise(text)
    if compact.startswith("RF"):
        compact = compact[2:]
    if len(compact) != 8 or not is_valid(compact):
        return None
    return f"RF-{compact[:4]}-{compact[4:]}"


def new_referrer_code() -> str:
    """Referrer codes: six random characters and a check character, e.g. ``K7Q3M9X``."""
    return random_code(7)


def parse_referrer_code(text: str) -> str | None:
    compact = normalise(text)
    if len(compact) != 7 or not is_valid(compact):
        return None
    return compact
