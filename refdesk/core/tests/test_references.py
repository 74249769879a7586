"""References and codes: unambiguous alphabet, and a check character that catches typos."""

from hypothesis import given
from hypothesis import strategies as st

from refdesk.core import references
from refdesk.core.references import ALPHABET

bodies = st.text(alphabet=ALPHABET, min_size=6, max_size=6)


def test_a_new_reference_looks_like_rf_xxxx_xxxx_and_parses_back():
    reference = references.new_referral_reference()
    assert len(reference) == 12 and reference.startswith("RF-") and reference[7] == "-"
    assert references.parse_referral_reference(reference) == reference


def test_typed_references_are_normalised():
    reference = references.new_referral_reference()
    typed = reference.lower().replace("-", " ").replace("1", "l").replace("0", "o")
    assert references.parse_referral_reference(typed) == reference


def test_the_alphabet_has_no_ambiguous_letters():
    assert not set("ILOU") & set(ALPHABET)
    assert len(ALPHABET) == 32


@given(bodies, st.integers(0, 6), st.sampled_from(ALPHABET))
def test_every_single_mistyped_character_is_caught(body, position, replacement):
    code = body + references.check_character(body)
    typo = code[:position] + replacement + code[position + 1 :]
    assert references.is_valid(typo) == (typo == code)


@given(bodies, st.integers(0, 5))
def test_every_swap_of_adjacent_characters_is_caught(body, position):
    code = body + references.check_character(body)
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    assert references.is_valid(swapped) == (swapped == code)


def test_garbage_is_not_a_code():
    assert references.parse_referrer_code("") is None
    assert references.parse_referrer_code("!!!!!!!") is None
    assert references.parse_referral_reference("RF-XXXX") is None


def test_every_adjacent_swap_of_every_pair_is_caught_exhaustively():
    # Luhn mod 32 misses some pairs (as mod 10 misses 09/90); the check must miss none.
    for first in ALPHABET:
        for second in ALPHABET:
            if first == second:
                continue
            for position in range(5):
                body = list("7K3Q9M")
                body[position], body[position + 1] = first, second
                code = "".join(body) + references.check_character("".join(body))
                swapped = list(code)
                swapped[position], swapped[position + 1] = second, first
                assert not references.is_valid("".join(swapped))
            # ... and the last character swapped with the check character.
            body = "7K3Q9" + first
            code = body + references.check_character(body)
            if code[-1] != code[-2]:
                assert not references.is_valid(code[:-2] + code[-1] + code[-2])
