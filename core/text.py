"""A count with its noun in the right number ("1 stay", "2 stays"), built in one place:
messages that pasted a count before a plural noun read "1 of them have a code" and
"1 stays held"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str = "") -> str:
    """`count` and the noun it takes: `singular` for one, else `plural` (default: an s)."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
