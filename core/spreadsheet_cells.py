"""The one rule for text that leaves Keystay in a spreadsheet-readable file.

A cell whose text begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets (OWASP's "CSV injection"): a listing named
`=HYPERLINK(...)` would become a live link in a manager's export. Such text is written
with a leading apostrophe, which spreadsheets show as text and hide; the importers strip
that apostrophe again, so an exported file re-imports to the same values. Numbers are
numbers, not text, and are left alone (a negative balance stays a number).
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: object) -> object:
    """`value` as it may be written to an export cell: text that a spreadsheet would run
    as a formula gets a leading apostrophe; everything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_formula(value: object) -> object:
    """The inverse of `escape_formula`, for importers: an apostrophe that escaped a
    formula start is removed; any other text (an apostrophe someone typed before a plain
    word) is kept as it is."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
