"""Door codes: what a lock accepts, what a guest should never get, and picking one.

A lock's rules come from Seam (`supported_code_lengths`, `code_constraints`); on top of
them Keystay refuses codes that are easy to guess, whatever the lock would accept.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from properties.models import CODE_LENGTH_MAX, CODE_LENGTH_MIN

PREFERRED_LENGTH = 6

# Codes people try first (keypad patterns, years, well-known PINs), beyond the rules below.
COMMON_CODES = frozenset(
    {
        "2580",
        "0852",
        "1379",
        "1397",
        "2468",
        "8642",
        "1004",
        "2000",
        "2001",
        "1010",
        "6969",
        "1313",
        "4545",
        "7777",
        "1122",
        "1212",
        "5683",
        "0007",
        "258025",
        "147258",
        "159753",
    }
)


class CodeRefused(ValueError):
    """A code that a lock would refuse or that Keystay will not give a guest."""


@dataclass(frozen=True)
class LockRules:
    """What one lock accepts, read from its Device row."""

    name: str
    lengths: frozenset[int]
    constraints: frozenset[str]

    @classmethod
    def of(cls, device) -> LockRules:
        lengths = frozenset(device.supported_code_lengths or []) or frozenset(
            range(CODE_LENGTH_MIN, CODE_LENGTH_MAX + 1)
        )
        return cls(
            name=device.name,
            lengths=lengths,
            constraints=frozenset(c.get("constraint_type", "") for c in device.code_constraints),
        )


def _is_run(code: str, step: int) -> bool:
    return all((int(b) - int(a)) % 10 == step % 10 for a, b in zip(code, code[1:], strict=False))


def guessable_reason(code: str) -> str | None:
    """Why a code is too easy to guess, or None."""
    if len(set(code)) == 1:
        return "all its digits are the same"
    if _is_run(code, 1) or _is_run(code, -1):
        return "it is a run of consecutive digits"
    if len(set(code)) < 3:
        return "it has fewer than three different digits"
    if re.search(r"(\d)\1\1", code):
        return "it repeats a digit three times in a row"
    if code in COMMON_CODES or code[: len(code) // 2] * 2 == code:
        return "it is a common or repeated pattern"
    if len(code) % 2 == 0 and re.fullmatch(r"((\d)\2)+", code):
        return "it is made of doubled digits"
    return None


def lock_refusal(code: str, rules: LockRules) -> str | None:
    """Why this lock would refuse the code, or None."""
    if len(code) not in rules.lengths:
        allowed = ", ".join(str(n) for n in sorted(rules.lengths))
        return f"{rules.name} takes codes of {allowed} digits"
    c = rules.constraints
    if "no_zeros" in c and "0" in code:
        return f"{rules.name} does not accept the digit 0"
    if "cannot_start_with_12" in c and code.startswith("12"):
        return f"{rules.name} does not accept codes starting with 12"
    if "no_triple_consecutive_ints" in c and re.search(r"(\d)\1\1", code):
        return f"{rules.name} does not accept a digit three times in a row"
    if "no_ascending_or_descending_sequence" in c and (_is_run(code, 1) or _is_run(code, -1)):
        return f"{rules.name} does not accept ascending or descending sequences"
    if "at_least_three_unique_digits" in c and len(set(code)) < 3:
        return f"{rules.name} needs at least three different digits"
    if "no_all_same_digits" in c and len(set(code)) == 1:
        return f"{rules.name} does not accept a code of one repeated digit"
    return None


def check_code(
    code: str,
    *,
    rules: Iterable[LockRules],
    taken: set[str] = frozenset(),
    guest_phone_digits: str = "",
    allow_phone: bool = False,
) -> None:
    """Raise CodeRefused with a plain reason when the code cannot be used."""
    if not (code.isascii() and code.isdigit()):
        raise CodeRefused("A code is made of digits only.")
    if not CODE_LENGTH_MIN <= len(code) <= CODE_LENGTH_MAX:
        raise CodeRefused(f"A code has {CODE_LENGTH_MIN} to {CODE_LENGTH_MAX} digits.")
    reason = guessable_reason(code)
    if reason:
        raise CodeRefused(f"This code is too easy to guess: {reason}.")
    for lock in rules:
        refusal = lock_refusal(code, lock)
        if refusal:
            raise CodeRefused(f"{refusal}.")
    if code in taken:
        raise CodeRefused("Another code on these locks already uses these digits in this period.")
    if not allow_phone and guest_phone_digits and guest_phone_digits.endswith(code):
        raise CodeRefused("This code is the end of the guest's phone number.")


def usable_lengths(rules: list[LockRules], preferred: int | None) -> list[int]:
    """Lengths every lock accepts, best first: the listing's choice, else near 6 digits."""
    common = set(range(CODE_LENGTH_MIN, CODE_LENGTH_MAX + 1))
    for lock in rules:
        common &= lock.lengths
    if preferred is not None:
        return [preferred] if preferred in common else []
    return sorted(common, key=lambda n: (abs(n - PREFERRED_LENGTH), -n))


def phone_digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


def generate_code(
    *,
    rules: list[LockRules],
    taken: set[str],
    preferred_length: int | None = None,
    guest_phone: str = "",
    use_phone: bool = False,
    attempts: int = 500,
) -> str:
    """A code every lock accepts, hard to guess, and free on those locks.

    With use_phone, the last digits of the guest's phone when they qualify; else random.
    """
    lengths = usable_lengths(rules, preferred_length)
    if not lengths:
        raise CodeRefused(
            "The listing's locks have no code length in common"
            + (f" with the listing's {preferred_length} digits." if preferred_length else ".")
        )
    digits = phone_digits(guest_phone)
    if use_phone:
        for length in lengths:
            candidate = digits[-length:]
            if len(candidate) != length:
                continue
            try:
                check_code(candidate, rules=rules, taken=taken, allow_phone=True)
            except CodeRefused:
                continue
            return candidate
    length = lengths[0]
    for _ in range(attempts):
        candidate = "".join(secrets.choice("0123456789") for _ in range(length))
        try:
            check_code(candidate, rules=rules, taken=taken, guest_phone_digits=digits)
        except CodeRefused:
            continue
        return candidate
    raise CodeRefused("No free code could be found for these locks.")
