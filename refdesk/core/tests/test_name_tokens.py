"""Name tokens: normalised words of a name, their prefixes, and the keyed digests name search
looks up (``refdesk.core.crypto``)."""

from __future__ import annotations

import string
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from refdesk.core.crypto import (
    NAME_TOKEN_MAX,
    NAME_TOKEN_MIN,
    blind_index,
    name_prefixes,
    name_query_words,
    name_token_digest,
    name_token_digests,
    name_words,
)

# Combining marks a name may carry (acute, grave, circumflex, tilde, diaeresis, ring, cedilla,
# caron, ogonek, breve).
MARKS = ["\u0301", "\u0300", "\u0302", "\u0303", "\u0308", "\u030a", "\u0327", "\u030c", "\u0328"]
LATIN_1_LETTERS = "".join(ch for ch in map(chr, range(0xC0, 0x100)) if ch.isalpha())

plain_words = st.text(alphabet=string.ascii_letters, min_size=1, max_size=12)
latin_names = st.text(alphabet=string.ascii_letters + LATIN_1_LETTERS + " -'", max_size=30)


@st.composite
def accented(draw, word):
    """``word`` with random accents, composed (NFC) or not, in random case per letter."""
    letters = []
    for ch in word:
        ch = ch.upper() if draw(st.booleans()) else ch.lower()
        marks = draw(st.lists(st.sampled_from(MARKS), max_size=2))
        letters.append(ch + "".join(marks))
    text = "".join(letters)
    return unicodedata.normalize("NFC", text) if draw(st.booleans()) else text


@given(st.data(), st.lists(plain_words, min_size=1, max_size=3))
def test_accents_and_case_never_change_the_words(data, words):
    typed = " ".join(data.draw(accented(word)) for word in words)
    assert name_words(typed) == name_words(" ".join(words).lower())
    assert name_token_digests(typed) == name_token_digests(" ".join(words))


@given(latin_names)
def test_upper_and_lower_case_spellings_index_the_same(name):
    assert name_words(name.upper()) == name_words(name.lower()) == name_words(name)


@given(latin_names)
def test_every_word_is_lowercase_letters_of_searchable_length(name):
    for word in name_words(name):
        assert NAME_TOKEN_MIN <= len(word) <= NAME_TOKEN_MAX
        assert word.isalpha() and word == word.casefold()
        assert not any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFKD", word))


def test_the_examples():
    assert name_words("José") == name_words("jose") == ["jose"]
    assert name_words("Zoë") == name_words("ZOE") == ["zoe"]
    assert name_words("Núñez") == ["nunez"]
    assert name_words("Strauß") == ["strauss"]
    assert name_words("  Ana  Li ") == ["ana"]  # "li" is too short to index
    # Apostrophes and hyphens: each part, and the parts joined.
    assert name_words("O'Brien") == ["brien", "obrien"]
    assert name_words("Smith-Jones") == ["smith", "jones", "smithjones"]
    assert name_words("Anne2 Marie") == ["anne", "marie"]


def test_prefixes_run_from_the_minimum_to_the_whole_word():
    assert name_prefixes(["moreno"]) == {"mor", "more", "moren", "moreno"}
    assert name_prefixes(["ana", "anabel"]) == {"ana", "anab", "anabe", "anabel"}
    long_word = name_words("a" * 40)[0]
    assert len(long_word) == NAME_TOKEN_MAX


def test_query_words_join_a_typed_word_and_flag_short_ones():
    assert name_query_words("José MORENO") == (["jose", "moreno"], False)
    assert name_query_words("o'brien") == (["obrien"], False)
    assert name_query_words("mo") == ([], True)
    assert name_query_words("alex mo") == (["alex"], True)
    assert name_query_words("ale ale") == (["ale"], False)
    assert name_query_words("  ") == ([], False)


def test_a_prefix_of_the_query_is_one_of_the_name_digests():
    digests = name_token_digests("Zoë", "Núñez-García")
    for typed in ("zoe", "ZOE\u0308", "nun", "NÚÑEZ", "garc", "nunezgarcia", "Núñez-Gar"):
        (word,), _ = name_query_words(typed)
        assert name_token_digest(word) in digests, typed
    for typed in ("zoey", "nunes", "arcia"):  # not a prefix of any word
        (word,), _ = name_query_words(typed)
        assert name_token_digest(word) not in digests, typed


def test_digests_are_keyed_with_a_key_of_their_own(settings):
    digest = name_token_digest("moreno")
    assert len(digest) == 16
    # Not the blind index of the same text under the shared key, in any form.
    assert digest.hex() not in blind_index("name", "moreno")
    settings.BLIND_INDEX_KEY = "another-key-" + "q" * 40
    assert name_token_digest("moreno") != digest
