"""How text is folded for search: one rule for what is stored and what is typed.

Stored folded in a column of its own (Reservation.search_text), a name is found by a
substring test on an index (a trigram index on PostgreSQL, a covering b-tree on SQLite)
instead of a case-insensitive scan of every stay.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_DIGIT = re.compile(r"\D")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower case, accents dropped, spaces collapsed: 'José  Álvarez' → 'jose alvarez'."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", bare.casefold()).strip()


def digits(text: str) -> str:
    """The digits of a phone number as typed any way: '+1 (555) 010-2233' → '15550102233'."""
    return _NOT_DIGIT.sub("", text or "")


def guest_search_text(*, name: str, email: str, phone: str, external_id: str) -> str:
    """One stay's searchable text: its guest's name, email, phone digits and external id,
    folded, separated by a character nobody types (a term never matches across two)."""
    return "|".join([fold(name), fold(email), digits(phone), fold(external_id)])
