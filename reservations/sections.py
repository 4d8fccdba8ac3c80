"""A list on the dashboard (or the front desk): its first rows, how many there are, and
the filtered admin list of all of them ("see all").

At thousands of rows (a busy day, an outage failing every code) drawing every row was
most of a page's time, and a screen of them tells no more than the first few with a
count. Every such list reads the same way:

    failing = first_rows(queryset, url=admin_list_url + "?codes=failing", what="…")

one query for the rows and one for the count (up to COUNT_CAP: "1,000+"), however many
rows there are. Rows that Python assembles (pairs of stays, locks
with their arrivals) go through `Section.of(rows, url=...)`. Templates draw the heading's
count with `section.count_label` and the last row with `see_all_row(section, colspan)`
(or, in another app's template, the HTML it returns).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from django.db.models import Count, QuerySet, Window
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

# The rows each list shows; the rest are one click away, in the admin list.
SECTION_ROWS = 25
# Counted up to this many; beyond, the count says "1,000+".
COUNT_CAP = 1000


@dataclasses.dataclass
class Section:
    rows: list
    # How many rows the list has in all, up to COUNT_CAP + 1.
    count: int
    # The admin list of every row (the same filter), "" when there is none.
    url: str = ""
    # What "See all N …" names: "codes failing", "arrivals today".
    what: str = ""

    @classmethod
    def of(cls, rows: Sequence, *, url: str = "", what: str = "", limit: int | None = None):
        """A section of rows already read (every one of them, or the first COUNT_CAP + 1)."""
        limit = limit or SECTION_ROWS
        return cls(list(rows[:limit]), min(len(rows), COUNT_CAP + 1), url, what)

    @property
    def more(self) -> bool:
        return self.count > len(self.rows)

    @property
    def count_label(self) -> str:
        return f"{COUNT_CAP:,}+" if self.count > COUNT_CAP else f"{self.count:,}"

    def __iter__(self) -> Iterator:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)


def first_rows(
    queryset: QuerySet,
    *,
    url: str = "",
    what: str = "",
    limit: int | None = None,
    counted: bool = True,
    count_with_rows: bool = False,
) -> Section:
    """The first `limit` rows of an ordered queryset and their count (which stops at
    COUNT_CAP + 1 rows): two queries, whether the rows reach the limit or not; one when
    not `counted` (the count is then the rows').

    One query too with `count_with_rows`: the rows carry the count of every match (a
    window over them all, not stopped at COUNT_CAP). For a list whose matches are bounded
    and each worked out before they can be sorted (the locks at risk, by their first
    arrival), so that the database reads every match anyway; a second query did it again.
    Not where an index gives the order (a day's arrivals on SQLite): there the first rows
    are read alone, and counted apart, far cheaper than every row in full.
    """
    if count_with_rows:
        rows = list(queryset.annotate(section_count=Window(Count("pk")))[: limit or SECTION_ROWS])
        count = rows[0].section_count if rows else 0
        return Section(rows, min(count, COUNT_CAP + 1), url, what)
    rows = list(queryset[: limit or SECTION_ROWS])
    if not counted:
        return Section(rows, len(rows), url, what)
    count = queryset.order_by().values("pk")[: COUNT_CAP + 1].count()
    return Section(rows, max(count, len(rows)), url, what)


def see_all_row(section: Section, colspan: int = 1) -> SafeString:
    """The table row under a cut list: "See all N … →" to its admin list ("" if whole)."""
    if not section.more or not section.url:
        return SafeString("")
    return SafeString(
        render_to_string(
            "reservations/_see_all.html", {"section": section, "colspan": colspan}
        ).strip()
    )
