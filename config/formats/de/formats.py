"""How guests who read German see dates (Django's own formats cover the rest)."""

GUEST_DATETIME_FORMAT = r"l, j. F Y, H:i T"
GUEST_SHORT_DATETIME_FORMAT = r"D, j. M, H:i T"
