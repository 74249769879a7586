"""Field encryption (MultiFernet) and the keyed blind index.

- Encryption: the first key of ``FIELD_ENCRYPTION_KEYS`` encrypts, every key decrypts, so a key is
  rotated by putting a new one first, running ``refdesk keys rotate`` and then dropping the old one.
- Blind index: HMAC-SHA256 (``BLIND_INDEX_KEY``) of a normalised email or phone number, so a lead
  can be found by an exact value without decrypting every row, and the index reveals nothing
  without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from functools import cache

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver


class DecryptionFailed(Exception):
    """A stored value cannot be decrypted with any configured key (a key was removed too early)."""


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode("ascii")) for key in settings.FIELD_ENCRYPTION_KEYS])


@receiver(setting_changed)
def _reset_keys(*, setting, **kwargs):
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


def encrypt_text(value: str) -> str:
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise DecryptionFailed(
            "a stored value matches none of REFDESK_FIELD_KEYS; was a key removed before "
            "`refdesk keys rotate` ran?"
        ) from None


def encrypt_json(value) -> str:
    return encrypt_text(json.dumps(value, separators=(",", ":"), sort_keys=True))


def decrypt_json(token: str):
    return json.loads(decrypt_text(token))


def rotate_token(token: str) -> str:
    """Re-encrypt one token under the newest key (MultiFernet.rotate keeps the timestamp)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise DecryptionFailed("a stored value matches none of REFDESK_FIELD_KEYS") from None


def is_encrypted_with_primary_key(token: str) -> bool:
    primary = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode("ascii"))
    try:
        primary.decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


# -- blind index ---------------------------------------------------------------------------


def normalise_email(value: str) -> str:
    """Case and surrounding/embedded white space never make two addresses different."""
    return "".join(value.split()).lower()


def normalise_phone(value: str, default_region: str | None = "US") -> str | None:
    """E.164 form, so national and international spellings of one number agree; None if invalid."""
    try:
        number = phonenumbers.parse(value, (default_region or "US").upper())
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def blind_index(kind: str, normalised: str) -> str:
    """HMAC of ``kind:value``; the kind keeps an email and a phone from ever colliding."""
    message = f"{kind}:{normalised}".encode()
    return hmac.new(settings.BLIND_INDEX_KEY.encode(), message, hashlib.sha256).hexdigest()


def email_index(value: str | None) -> str:
    return blind_index("email", normalise_email(value)) if value and value.strip() else ""


def phone_index(value: str | None, default_region: str | None = "US") -> str:
    if not value or not value.strip():
        return ""
    normalised = normalise_phone(value, default_region)
    return blind_index("phone", normalised) if normalised else ""


def npi_index(value: str | None) -> str:
    """The NPI's digits (a clinician's public identifier, indexed like the rest of the lead)."""
    digits = "".join(ch for ch in str(value or "") if ch.isascii() and ch.isdigit())
    return blind_index("npi", digits) if digits else ""


def normalise_name(value: str) -> str:
    """Case, accents' composed forms and spacing never make two spellings of a name differ."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def name_index(given: str | None, family: str | None, birth_year: int | str | None) -> str:
    """Name and birth year together (``match_on: name_and_birth_year``); empty unless all three
    are known: a name alone matches too many people."""
    if not (given and family and birth_year):
        return ""
    return blind_index(
        "name", f"{normalise_name(str(given))}|{normalise_name(str(family))}|{birth_year}"
    )


def fingerprint(value) -> str:
    """A short keyed digest of a patient value for the audit trail: shows equality, not value."""
    message = json.dumps(value, sort_keys=True, default=str).encode()
    digest = hmac.new(settings.AUDIT_HMAC_KEY.encode(), message, hashlib.sha256).hexdigest()
    return f"hmac:{digest[:16]}"


# -- name tokens: partial, case- and accent-insensitive name search -----------------------------
# docs/privacy-search.md says what these digests reveal to someone holding the database without
# the key, and why prefixes are indexed from NAME_TOKEN_MIN letters only.

NAME_TOKEN_MIN = 3  # shortest prefix indexed, and shortest word searched
NAME_TOKEN_MAX = 24  # longer words are indexed (and searched) by their first 24 letters
NAME_DIGEST_BYTES = 16  # 128 bits: no two prefixes in a table of billions share a digest


def name_words(value: str) -> list[str]:
    """The searchable words of a name: NFKD, combining marks dropped, casefolded, split on
    anything that is not a letter. "José" and "JOSE" give ["jose"]; "Zoë" gives ["zoe"].

    A word spelled with an apostrophe or hyphen ("O'Brien", "Smith-Jones") also gives its
    letters joined ("obrien", "smithjones"), so it is found typed with or without them.
    Words shorter than ``NAME_TOKEN_MIN`` are dropped: they would match half the table.
    """
    decomposed = unicodedata.normalize("NFKD", str(value or ""))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words: list[str] = []
    for chunk in plain.split():
        runs = "".join(ch if ch.isalpha() else " " for ch in chunk).split()
        words += runs
        if len(runs) > 1:
            words.append("".join(runs))
    return [word[:NAME_TOKEN_MAX] for word in words if len(word) >= NAME_TOKEN_MIN]


def name_query_words(query: str) -> tuple[list[str], bool]:
    """The words of a search query, one per typed word (its letters joined, as ``name_words``
    indexes it), and whether any typed word was too short to search."""
    decomposed = unicodedata.normalize("NFKD", str(query or ""))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words, too_short = [], False
    for chunk in plain.split():
        letters = "".join(ch for ch in chunk if ch.isalpha())
        if not letters:
            continue
        if len(letters) < NAME_TOKEN_MIN:
            too_short = True
            continue
        words.append(letters[:NAME_TOKEN_MAX])
    return list(dict.fromkeys(words)), too_short


def name_prefixes(words: list[str]) -> set[str]:
    """Every prefix of every word from ``NAME_TOKEN_MIN`` letters to the whole word."""
    return {word[:end] for word in words for end in range(NAME_TOKEN_MIN, len(word) + 1)}


@cache
def _name_token_key(index_key: str) -> bytes:
    # A key of its own, derived from the blind-index key for this one purpose: a name-token
    # digest never equals an email/phone/NPI index or any other digest refdesk stores.
    return hmac.new(index_key.encode(), b"refdesk.intake.name_tokens.v1", hashlib.sha256).digest()


def name_token_digest(prefix: str) -> bytes:
    """Keyed digest (HMAC-SHA256, truncated to 16 bytes) of one normalised name prefix."""
    key = _name_token_key(settings.BLIND_INDEX_KEY)
    return hmac.new(key, prefix.encode(), hashlib.sha256).digest()[:NAME_DIGEST_BYTES]


def name_token_digests(*names: str | None) -> set[bytes]:
    """The digests a lead with these names is indexed under (each word, each prefix)."""
    words = [word for name in names if name for word in name_words(str(name))]
    return {name_token_digest(prefix) for prefix in name_prefixes(words)}
