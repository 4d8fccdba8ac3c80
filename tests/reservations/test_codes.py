"""Picking a code: what locks accept, what guests never get."""

import pytest

from reservations.codes import (
    CodeRefused,
    LockRules,
    check_code,
    generate_code,
    guessable_reason,
    usable_lengths,
)

GATE = LockRules("Garden Gate", frozenset({4, 5, 6}), frozenset({"cannot_start_with_12"}))
SIDE = LockRules("Side Door", frozenset({6}), frozenset({"no_zeros"}))


@pytest.mark.parametrize(
    "code", ["1111", "1234", "9876", "0123", "123456", "1212", "2580", "112211", "5552", "668811"]
)
def test_trivially_guessable_codes_are_refused(code):
    assert guessable_reason(code) is not None


@pytest.mark.parametrize("code", ["4829", "582941", "73915"])
def test_ordinary_codes_pass(code):
    assert guessable_reason(code) is None


def test_generated_codes_satisfy_every_lock_and_avoid_taken_ones():
    taken = {"583921"}
    for _ in range(200):
        code = generate_code(rules=[GATE, SIDE], taken=taken)
        assert len(code) == 6 and "0" not in code and not code.startswith("12")
        assert guessable_reason(code) is None and code not in taken


def test_the_listing_length_must_suit_every_lock():
    assert usable_lengths([GATE, SIDE], None) == [6]
    assert usable_lengths([GATE], None) == [6, 5, 4]
    with pytest.raises(CodeRefused, match="no code length in common"):
        generate_code(rules=[GATE, SIDE], taken=set(), preferred_length=4)


def test_phone_style_uses_the_phones_last_digits_when_they_qualify():
    code = generate_code(
        rules=[GATE],
        taken=set(),
        guest_phone="+351 912 847 395",
        use_phone=True,
        preferred_length=6,
    )
    assert code == "847395"
    # Taken (or unsuitable) last digits: a random code instead.
    other = generate_code(
        rules=[GATE],
        taken={"847395"},
        guest_phone="+351 912 847 395",
        use_phone=True,
        preferred_length=6,
    )
    assert other != "847395"


def test_random_style_never_hands_out_the_phones_ending():
    with pytest.raises(CodeRefused, match="guest's phone"):
        check_code("847395", rules=[GATE], guest_phone_digits="351912847395")


def test_refusals_explain_themselves():
    with pytest.raises(CodeRefused, match="Side Door does not accept the digit 0"):
        check_code("583901", rules=[SIDE])
    with pytest.raises(CodeRefused, match="takes codes of 6 digits"):
        check_code("5839", rules=[SIDE])
    with pytest.raises(CodeRefused, match="already uses these digits"):
        check_code("583921", rules=[SIDE], taken={"583921"})
