"""The listing import's and export's `calendar_feeds` column (registered with
`locks.listing_import` in CalendarFeedsConfig.ready: locks knows nothing of feeds).

A cell lists a listing's feeds as `channel:link`, separated by semicolons:
`airbnb:https://www.airbnb.com/calendar/ical/1234.ics?s=…; vrbo:https://…`. A link is a
secret, so the export writes each feed masked as pages show it (`airbnb:www.airbnb.com/…f00d`).

On import, an entry is:
- a masked link of one of the listing's feeds (an export re-imported): that feed, unchanged;
- a full link the listing has already: unchanged;
- a new full link: a new feed, read at once after the import commits.

The column adds feeds and never removes one (a feed is removed on the listing's page), so
an empty cell or an export re-imported changes nothing. A bad entry (an unknown channel, a
link the outbound guard refuses, a masked link of no feed of this listing) is an error of
its row, and the import writes nothing.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from core.outbound import MAX_URL_LENGTH
from locks.listing_import import ExtraCell, ExtraColumn
from properties.models import Organization

from . import services
from .models import CalendarFeed, Channel, url_hint

COLUMN = "calendar_feeds"
SEPARATOR = ";"
# What a cell may call each channel (lower-cased).
CHANNEL_NAMES = {
    **{channel.value: channel.value for channel in Channel},
    **{channel.label.lower(): channel.value for channel in Channel},
    "booking": Channel.BOOKING.value,
    "bookingcom": Channel.BOOKING.value,
}
FORMAT_HELP = (
    "write each feed as channel:link, such as airbnb:https://www.airbnb.com/calendar/"
    "ical/1234.ics, separated by semicolons (channels: airbnb, vrbo, booking, other)"
)


def _entry(channel: str, shown: str) -> str:
    return f"{channel}:{shown}"


def export_cells(listing_ids: QuerySet) -> dict[int, str]:
    """Each listing's feeds, masked, in the order they were added."""
    cells: dict[int, list[str]] = {}
    feeds = (
        CalendarFeed.objects.filter(listing__in=listing_ids)
        .order_by("listing_id", "pk")
        .values_list("listing_id", "channel", "url_hint")
    )
    for listing_id, channel, hint in feeds.iterator(chunk_size=2000):
        cells.setdefault(listing_id, []).append(_entry(channel, hint))
    return {listing_id: f"{SEPARATOR} ".join(entries) for listing_id, entries in cells.items()}


def _parse(text: str) -> list[tuple[str, str]] | str:
    """(channel, link or masked link) of each entry, or the problem with the cell."""
    entries = []
    for raw in text.split(SEPARATOR):
        raw = raw.strip()
        if not raw:
            continue
        name, colon, link = raw.partition(":")
        channel = CHANNEL_NAMES.get(name.strip().lower().replace(" ", ""))
        link = link.strip()
        if not colon or channel is None or not link:
            return f"Each feed needs its channel before its link: {FORMAT_HELP}."
        entries.append((channel, link))
    return entries


def _is_full_link(link: str) -> bool:
    return link.lower().startswith(("https://", "http://"))


def plan_cells(
    organization: Organization, rows: list[tuple[int, int | None, str]]
) -> dict[int, ExtraCell]:
    """What each row's cell does to its listing's feeds (reads them in one query)."""
    listing_ids = {listing_id for _n, listing_id, text in rows if listing_id and text}
    feeds: dict[int, list[CalendarFeed]] = {}
    for feed in CalendarFeed.objects.filter(
        organization=organization, listing_id__in=listing_ids
    ).order_by("pk"):
        feeds.setdefault(feed.listing_id, []).append(feed)

    planned: dict[int, ExtraCell] = {}
    for number, listing_id, text in rows:
        current = feeds.get(listing_id, []) if listing_id else []
        before = f"{SEPARATOR} ".join(_entry(f.channel, f.masked_url) for f in current)
        entries = _parse(text)
        if isinstance(entries, str):
            planned[number] = ExtraCell(problem=entries)
            continue
        new: list[list[str]] = []
        problem = ""
        for channel, link in entries:
            if not _is_full_link(link):
                # A masked link, as an export writes it: one of this listing's feeds.
                if not any(f.masked_url == link for f in current):
                    problem = (
                        f"“{_entry(channel, link)}” is a masked link (exports hide feed "
                        "links) of no calendar feed of this listing: paste the full link "
                        "to add a feed."
                    )
                    break
                continue
            shown = _entry(channel, url_hint(link))
            if len(link) > MAX_URL_LENGTH:
                problem = f"The link of “{shown}” is longer than {MAX_URL_LENGTH} characters."
                break
            if any(f.url == link for f in current) or [channel, link] in new:
                continue  # the listing reads this calendar already
            refused = services.feed_url_problem(link)
            if refused:
                problem = f"“{shown}”: {refused}"
                break
            new.append([channel, link])
        if problem:
            planned[number] = ExtraCell(problem=problem)
            continue
        after = [before] if before else []
        after += [_entry(channel, url_hint(link)) for channel, link in new]
        planned[number] = ExtraCell(
            shown=f"{SEPARATOR} ".join(after),
            old=before if new else None,
            payload=new or None,
        )
    return planned


def apply_cells(organization: Organization, writes: list[tuple[int, list]]) -> None:
    """The new feeds, inside the import's transaction; each read at once after it commits."""
    services.feeds_bulk_create(
        organization=organization,
        feeds=[
            (listing_id, channel, link)
            for listing_id, entries in writes
            for channel, link in entries
        ],
        now=timezone.now(),
    )


IMPORT_COLUMN = ExtraColumn(name=COLUMN, export=export_cells, plan=plan_cells, apply=apply_cells)
