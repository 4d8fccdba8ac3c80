"""The timeline: who is on which door when, drawn as a picture (server-rendered SVG).

A listing's timeline (or a property's: one block per listing) has a lane for its stays,
one lane per lock assigned to it, and one lane per code made outside Keystay on those
locks. On a lock's lane each stay's code is a bar over its window (when the code opens
the door), coloured by the lock's state, with a thin strip before it for the lead time
(from when Keystay puts the code on the lock to when its window opens). A lock with an
override for a stay is marked. Bars on one lane that overlap are stacked on rows of their
own and the overlap is hatched.

What a cancelled stay shows: its stay bar (struck through) and, on each lock its code
had reached or was planned for, a hatched "revoked" bar over the window it would have
had, so that staff see the door was freed; such bars never count as overlaps. A stay
cancelled before it was confirmed never had a code: it is on the stays lane only.

The geometry (every x, width, y) is computed here in plain Python so that tests can check
where a bar sits from its instants; the template only draws it. Positions come from
elapsed time in UTC, so a day with a daylight-saving change is 23 or 25 hours wide and a
window across it is placed where its instants are. Labels are in the property's zone.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db.models import Q
from django.urls import reverse

from core.timezones import format_instant as local_text
from locks.models import LockAssignment, UnmanagedCode
from properties.models import Listing

from .models import OPEN_END, AccessOverride, LockAccess, Reservation, StandingAccess, Turnover

# Geometry, in SVG user units (the picture scales to the page width: see the template).
LABEL_WIDTH = 190.0
DAY_WIDTH = 48.0
AXIS_HEIGHT = 44.0
GROUP_HEADER_HEIGHT = 26.0
ROW_HEIGHT = 24.0
LANE_PADDING = 4.0
BAR_TOP = 2.0  # within a row
BAR_HEIGHT = 15.0
LEAD_TOP = 18.0  # the lead-time strip runs under the bar's row, never hidden by a bar
LEAD_HEIGHT = 4.0
MIN_BAR_WIDTH = 2.0
MIN_DAY_PIXELS = 40  # a day's column on a phone, at the narrowest
CHAR_WIDTH = 6.2  # an 11px sans-serif character, on average: to fit a label in its bar

# The range shown: a few days back, a few weeks ahead.
DAYS_BACK = 3
DEFAULT_DAYS = 24
RANGE_CHOICES = [(10, "1 week ahead"), (DEFAULT_DAYS, "3 weeks ahead"), (45, "6 weeks ahead")]
MAX_DAYS = 92
STEP_DAYS = 7

State = LockAccess.State
# A turnover's buffer is at most a few hours: a day around the range finds every one.
DAY = datetime.timedelta(days=1)

# A lock's state → the colour class of its bar, and the legend's words for it.
CODE_STATE_CLASS = {
    State.PLANNED: "planned",
    State.PROGRAMMING: "sent",
    State.REQUESTED: "sent",
    State.CONFIRMED: "confirmed",
    State.ACTIVE: "confirmed",
    State.FAILED: "failed",
    State.REMOVING: "removing",
    State.REMOVED: "removed",
    State.REVOKED: "revoked",
}
LEGEND = [
    ("planned", "Planned: waiting for its time to go on the lock"),
    ("sent", "Sent to the lock, not yet confirmed"),
    ("confirmed", "Confirmed on the lock"),
    ("failed", "Failed: Keystay retries"),
    ("removing", "Being removed"),
    ("removed", "Removed after the stay"),
    ("revoked", "Revoked (stay cancelled, or lock taken off the stay)"),
]
STAY_STATE_CLASS = {
    Reservation.Status.PENDING: "stay-pending",
    Reservation.Status.CONFIRMED: "stay-confirmed",
    Reservation.Status.CHECKED_OUT: "stay-checked-out",
    Reservation.Status.CANCELLED: "stay-cancelled",
}
STAY_LEGEND = [
    ("stay-pending", "Stay pending"),
    ("stay-confirmed", "Stay confirmed"),
    ("stay-checked-out", "Stay checked out"),
    ("stay-cancelled", "Stay cancelled"),
]
# A lock's code leaving for these reasons never held the door: not an overlap.
NOT_OCCUPYING = {
    LockAccess.Reason.CANCELLED,
    LockAccess.Reason.UNASSIGNED,
    LockAccess.Reason.NO_GUEST_ACCESS,
    LockAccess.Reason.MOVED,
}


# ------------------------------------------------------------------------ the range


def _utc(value: datetime.datetime) -> datetime.datetime:
    # Subtracting two datetimes that share a tzinfo ignores their offsets (wall-clock
    # arithmetic): across a daylight-saving change that is an hour off. UTC is exact.
    return value.astimezone(datetime.UTC)


@dataclass(frozen=True)
class Range:
    """From local midnight of `first_day`, `days` days, in `zone`."""

    first_day: datetime.date
    days: int
    zone: zoneinfo.ZoneInfo

    @property
    def start(self) -> datetime.datetime:
        return self.midnight(self.first_day)

    @property
    def end(self) -> datetime.datetime:
        return self.midnight(self.first_day + datetime.timedelta(days=self.days))

    def midnight(self, day: datetime.date) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time.min, tzinfo=self.zone)

    @property
    def hours(self) -> float:
        return (_utc(self.end) - _utc(self.start)).total_seconds() / 3600

    @property
    def plot_width(self) -> float:
        # One scale for every hour: a range across a daylight-saving change is an hour
        # narrower (or wider) than its days times DAY_WIDTH, as the day of the change is.
        return round(self.hours * DAY_WIDTH / 24, 2)

    @property
    def width(self) -> float:
        return LABEL_WIDTH + self.plot_width

    def x(self, instant: datetime.datetime) -> float:
        """Where an instant is, clamped to the plot (by elapsed time, not wall clock)."""
        start, end = _utc(self.start), _utc(self.end)
        hours = (min(max(_utc(instant), start), end) - start).total_seconds() / 3600
        return round(LABEL_WIDTH + hours * DAY_WIDTH / 24, 2)

    def contains(self, instant: datetime.datetime | None) -> bool:
        return instant is not None and _utc(self.start) <= _utc(instant) < _utc(self.end)

    def overlaps(self, starts: datetime.datetime | None, ends: datetime.datetime | None) -> bool:
        return (starts is None or _utc(starts) < _utc(self.end)) and (
            ends is None or _utc(ends) > _utc(self.start)
        )


def default_first_day(today: datetime.date) -> datetime.date:
    return today - datetime.timedelta(days=DAYS_BACK)


# ------------------------------------------------------------------------ the layout


@dataclass
class Bar:
    kind: str  # "stay", "code" or "unmanaged"
    css: str  # the colour class: a state (see LEGEND), a stay status, "unmanaged"
    state_label: str
    label: str  # what the bar says inside, when it fits
    title: str  # its tooltip
    href: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    x: float = 0.0
    width: float = 0.0
    row: int = 0
    y: float = 0.0
    lead_from: datetime.datetime | None = None  # when the code goes on the lock
    lead_x: float = 0.0
    lead_width: float = 0.0
    override: bool = False
    occupies: bool = True  # counts for overlaps
    reservation_id: int | None = None
    device_id: int | None = None
    text: str = ""  # the label cut to the bar's width

    @property
    def height(self) -> float:
        return BAR_HEIGHT

    @property
    def lead_height(self) -> float:
        return LEAD_HEIGHT

    @property
    def lead_y(self) -> float:
        return self.y - BAR_TOP + LEAD_TOP

    @property
    def text_x(self) -> float:
        return round(self.x + 4, 2)

    @property
    def text_y(self) -> float:
        return round(self.y + BAR_HEIGHT - 4, 2)


@dataclass(frozen=True)
class Span:
    x: float
    width: float


@dataclass
class Lane:
    key: str
    kind: str  # "stays", "lock" or "unmanaged"
    label: str
    detail: str
    href: str = ""
    device_id: int | None = None
    bars: list[Bar] = field(default_factory=list)
    overlaps: list[Span] = field(default_factory=list)
    rows: int = 1
    y: float = 0.0

    @property
    def height(self) -> float:
        return 2 * LANE_PADDING + self.rows * ROW_HEIGHT

    @property
    def label_y(self) -> float:
        return round(self.y + LANE_PADDING + 12, 2)

    @property
    def detail_y(self) -> float:
        return round(self.label_y + 12, 2)


@dataclass
class Group:
    listing: Listing
    lanes: list[Lane]
    header: bool
    y: float = 0.0

    @property
    def header_y(self) -> float:
        return round(self.y + GROUP_HEADER_HEIGHT - 8, 2)


@dataclass(frozen=True)
class DayTick:
    x: float
    next_x: float
    day: datetime.date
    label: str
    month: str  # the month's name above its first day (and above the first column)
    weekend: bool
    today: bool

    @property
    def width(self) -> float:
        return round(self.next_x - self.x, 2)

    @property
    def label_x(self) -> float:
        return round(self.x + 4, 2)


@dataclass
class Timeline:
    range: Range
    now: datetime.datetime
    groups: list[Group]
    days: list[DayTick]
    height: float
    zone_name: str
    zone_abbreviations: str
    now_x: float | None
    now_label: str

    @property
    def width(self) -> float:
        return self.range.width

    @property
    def plot_left(self) -> float:
        return LABEL_WIDTH

    @property
    def min_width(self) -> int:
        """The narrowest the picture is drawn (CSS pixels): under it, the page scrolls
        sideways rather than shrink labels out of reading."""
        return int(0.9 * LABEL_WIDTH + self.range.days * MIN_DAY_PIXELS)

    @property
    def lanes(self) -> list[Lane]:
        return [lane for group in self.groups for lane in group.lanes]

    @property
    def bars(self) -> list[Bar]:
        return [bar for lane in self.lanes for bar in lane.bars]


# ------------------------------------------------------------------------ words


def _duration(delta: datetime.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes % (24 * 60) == 0 and minutes:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def _cut(text: str, width: float) -> str:
    fits = int((width - 8) / CHAR_WIDTH)
    if fits < 3:
        return ""
    return text if len(text) <= fits else text[: fits - 1] + "…"


def _override_words(override: AccessOverride, zone) -> str:
    parts = []
    if override.code_ciphertext:
        parts.append("own code")
    if override.starts_at or override.ends_at:
        starts = local_text(override.starts_at, zone) if override.starts_at else "the stay's"
        ends = local_text(override.ends_at, zone) if override.ends_at else "the stay's"
        parts.append(f"own window {starts} – {ends}")
    if override.lead_time_minutes is not None:
        parts.append(
            f"lead time {_duration(datetime.timedelta(minutes=override.lead_time_minutes))}"
        )
    return "Override on this lock: " + (", ".join(parts) or "set")


# ------------------------------------------------------------------------ bars


def _standing_bar(standing: StandingAccess, zone, until: datetime.datetime) -> Bar:
    """A standing crew code on the crew lane, over its dates (an open-ended one is drawn
    to the end of the range)."""
    starts, ends = standing.window
    who = standing.crew_member.title
    lines = [f"Standing code: {who}", f"From {local_text(starts, zone)}"]
    lines.append(f"Until {local_text(ends, zone)}" if ends < OPEN_END else "Open-ended")
    return Bar(
        kind="crew",
        css="crew",
        state_label="Standing code",
        label=who,
        title="\n".join(lines),
        href=reverse("admin:reservations_standingaccess_change", args=[standing.pk]),
        starts_at=starts,
        ends_at=min(ends, until),
        occupies=False,
    )


def _crew_bar(turnover: Turnover, zone) -> Bar:
    """A turnover on the crew lane: over its code's window, coloured by how far it got."""
    starts, ends = turnover.window
    who = turnover.assignee.title if turnover.assignee_id else "Nobody assigned"
    lines = [
        f"Turnover: {who}",
        f"From {local_text(starts, zone)}",
        f"Until {local_text(ends, zone)}",
        turnover.get_state_display(),
    ]
    if turnover.impossible:
        css = "crew-impossible"
        lines.append("No time to clean: the next guests arrive as these leave")
        ends = starts + datetime.timedelta(minutes=30)  # drawn, though it has no length
    elif turnover.state == Turnover.State.DONE:
        css = "crew-done"
    else:
        css = "crew"
    return Bar(
        kind="crew",
        css=css,
        state_label=turnover.get_state_display(),
        label=who,
        title="\n".join(lines),
        href=reverse("admin:reservations_turnover_change", args=[turnover.pk]),
        starts_at=starts,
        ends_at=ends,
        occupies=False,
    )


def _stay_bar(reservation: Reservation, zone) -> Bar:
    ends = reservation.check_out
    if reservation.ended_at is not None and reservation.ended_at < ends:
        ends = max(reservation.ended_at, reservation.check_in)
    status = reservation.get_status_display()
    lines = [
        reservation.guest_name,
        f"Check-in {local_text(reservation.check_in, zone)}",
        f"Check-out {local_text(reservation.check_out, zone)}",
        status,
    ]
    if reservation.source:  # where it came from: "Airbnb calendar", "api", a PMS…
        lines.append(f"From {reservation.source}")
    if reservation.ended_at is not None:
        lines.append(f"Stay ended early, {local_text(reservation.ended_at, zone)}")
    if reservation.arrived_at is not None:
        lines.append(f"Arrived {local_text(reservation.arrived_at, zone)}")
    return Bar(
        kind="stay",
        css=STAY_STATE_CLASS.get(reservation.status, "stay-pending"),
        state_label=status,
        label=reservation.guest_name,
        title="\n".join(lines),
        href=reverse("admin:reservations_reservation_change", args=[reservation.pk]),
        starts_at=reservation.check_in,
        ends_at=ends,
        occupies=reservation.status
        in {Reservation.Status.CONFIRMED, Reservation.Status.CHECKED_OUT},
        reservation_id=reservation.pk,
    )


def _code_bar(
    access: LockAccess, override: AccessOverride | None, zone, now: datetime.datetime
) -> Bar:
    reservation = access.reservation
    state = access.current_state(now)
    starts, ends = access.starts_at, access.ends_at
    # A stay ended early: its code left the door then, whatever window it was planned for.
    if reservation.ended_at is not None and reservation.ended_at < ends:
        ends = max(reservation.ended_at, starts)
    occupies = access.reason not in NOT_OCCUPYING and state != State.REVOKED
    lead_from = access.program_at if occupies and access.program_at < starts else None
    lines = [
        f"{reservation.guest_name} · {access.device.name}",
        f"Code window {local_text(starts, zone)} – {local_text(ends, zone)}",
    ]
    if lead_from is not None:
        lead = _duration(starts - lead_from)
        lines.append(f"Put on the lock from {local_text(lead_from, zone)} (lead time {lead})")
    lines.append(f"State: {State(state).label}")
    if access.reason:
        lines.append(f"Leaving: {access.get_reason_display()}")
    if state == State.FAILED and access.last_error:
        lines.append(f"Error: {access.last_error}")
    if override is not None:
        lines.append(_override_words(override, zone))
    return Bar(
        kind="code",
        css=CODE_STATE_CLASS.get(state, "planned"),
        state_label=State(state).label,
        label=reservation.guest_name,
        title="\n".join(lines),
        href=reverse("admin:reservations_reservation_change", args=[reservation.pk]),
        starts_at=starts,
        ends_at=ends,
        lead_from=lead_from,
        override=override is not None,
        occupies=occupies,
        reservation_id=reservation.pk,
        device_id=access.device_id,
    )


def _unmanaged_bar(code: UnmanagedCode, range_: Range, zone) -> Bar:
    starts = code.starts_at or range_.start
    ends = code.ends_at or range_.end
    if code.is_ongoing:
        when = "Ongoing (no window)"
    else:
        since = local_text(code.starts_at, zone) if code.starts_at else "always"
        until = local_text(code.ends_at, zone) if code.ends_at else "no end"
        when = f"{since} – {until}"
    return Bar(
        kind="unmanaged",
        css="unmanaged",
        state_label="Made outside Keystay",
        label=code.display_name,
        title="\n".join(
            [
                f"{code.display_name} · {code.device.name}",
                when,
                "Made outside Keystay (read-only)",
            ]
        ),
        href=reverse("admin:locks_unmanagedcode_change", args=[code.pk]),
        starts_at=starts,
        ends_at=ends,
        occupies=False,
        device_id=code.device_id,
    )


# ------------------------------------------------------------------------ placing


def _place(lane: Lane, range_: Range) -> None:
    """x and width of every bar, rows so that no two bars on a row overlap, and the
    hatched spans where bars that hold the door overlap."""
    for bar in lane.bars:
        bar.x = range_.x(bar.starts_at)
        bar.width = round(max(range_.x(bar.ends_at) - bar.x, MIN_BAR_WIDTH), 2)
        if bar.lead_from is not None:
            bar.lead_x = range_.x(bar.lead_from)
            bar.lead_width = round(max(bar.x - bar.lead_x, 0.0), 2)
        bar.text = _cut(bar.label, bar.width)
    lane.bars.sort(key=lambda b: (_utc(b.starts_at), _utc(b.ends_at), b.reservation_id or 0))
    row_ends: list[datetime.datetime] = []
    for bar in lane.bars:
        for row, row_end in enumerate(row_ends):
            if _utc(row_end) <= _utc(bar.starts_at):  # touching is no overlap (turnover)
                bar.row, row_ends[row] = row, bar.ends_at
                break
        else:
            bar.row = len(row_ends)
            row_ends.append(bar.ends_at)
    lane.rows = max(1, len(row_ends))
    lane.overlaps = _overlaps([b for b in lane.bars if b.occupies], range_)


def _overlaps(bars: Sequence[Bar], range_: Range) -> list[Span]:
    pieces: list[tuple[datetime.datetime, datetime.datetime]] = []
    for i, one in enumerate(bars):
        for other in bars[i + 1 :]:
            starts = max(_utc(one.starts_at), _utc(other.starts_at))
            ends = min(_utc(one.ends_at), _utc(other.ends_at))
            if starts < ends:
                pieces.append((starts, ends))
    pieces.sort()
    merged: list[list[datetime.datetime]] = []
    for starts, ends in pieces:
        if merged and starts <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], ends)
        else:
            merged.append([starts, ends])
    spans = []
    for starts, ends in merged:
        if range_.overlaps(starts, ends):
            x = range_.x(starts)
            spans.append(Span(x=x, width=round(max(range_.x(ends) - x, MIN_BAR_WIDTH), 2)))
    return spans


def _stack(groups: list[Group]) -> float:
    """y of every group, lane and bar; returns the picture's height."""
    y = AXIS_HEIGHT
    for group in groups:
        group.y = y
        if group.header:
            y += GROUP_HEADER_HEIGHT
        for lane in group.lanes:
            lane.y = round(y, 2)
            for bar in lane.bars:
                bar.y = round(y + LANE_PADDING + bar.row * ROW_HEIGHT + BAR_TOP, 2)
            y += lane.height
    return round(y + 8, 2)


def _days(range_: Range, today: datetime.date) -> list[DayTick]:
    ticks = []
    for n in range(range_.days):
        day = range_.first_day + datetime.timedelta(days=n)
        following = day + datetime.timedelta(days=1)
        ticks.append(
            DayTick(
                x=range_.x(range_.midnight(day)),
                next_x=range_.x(range_.midnight(following)),
                day=day,
                label=f"{day:%a} {day.day}",
                month=f"{day:%B %Y}" if n == 0 or day.day == 1 else "",
                weekend=day.weekday() >= 5,
                today=day == today,
            )
        )
    return ticks


# ------------------------------------------------------------------------ reading


def _device_detail(assignment: LockAssignment) -> str:
    parts = [assignment.get_role_display()]
    if assignment.label:
        parts.append(f"“{assignment.label}”")
    parts.append("guest codes" if assignment.guest_access else "no guest codes")
    if assignment.staff_access:
        parts.append("crew codes")
    if assignment.device.kind == assignment.device.Kind.ACS_ENTRANCE:
        parts.append("entrance")
        if assignment.guest_access and assignment.device.codes_unsupported:
            parts.append("takes no codes here")
    if assignment.device.removed_at is not None:
        parts.append("gone at the provider")
    return " · ".join(parts)


def _label(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_timeline(
    *,
    listings: Iterable[Listing],
    first_day: datetime.date,
    days: int,
    now: datetime.datetime,
    zone: zoneinfo.ZoneInfo,
    headers: bool = False,
) -> Timeline:
    """The timeline of `listings` (of one property: `zone` is its zone) over `days` days
    from local midnight of `first_day`. Reads in a fixed number of queries."""
    listings = list(listings)
    range_ = Range(first_day=first_day, days=days, zone=zone)
    start, end = range_.start, range_.end
    listing_ids = [listing.pk for listing in listings]

    assignments = list(
        LockAssignment.objects.filter(listing_id__in=listing_ids)
        .select_related("device__connection")
        .order_by("listing_id", "role", "device__name", "pk")
    )
    reservations = list(
        Reservation.objects.filter(
            listing_id__in=listing_ids, check_in__lt=end, check_out__gt=start
        ).order_by("check_in", "pk")
    )
    # A code's bar starts at its lead time: program_at is the earliest instant drawn.
    accesses = list(
        LockAccess.objects.filter(
            reservation__listing_id__in=listing_ids, program_at__lt=end, ends_at__gt=start
        )
        .select_related("reservation", "device")
        .order_by("starts_at", "pk")
    )
    turnovers = list(
        Turnover.objects.filter(
            listing_id__in=listing_ids, starts_at__lt=end + DAY, ends_at__gt=start - DAY
        )
        .exclude(state=Turnover.State.CANCELLED)
        .select_related("assignee", "listing")
        .order_by("starts_at", "pk")
    )
    standings = list(
        StandingAccess.objects.filter(listing_id__in=listing_ids, starts_at__lt=end)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        .select_related("crew_member")
        .order_by("starts_at", "pk")
    )
    overrides = {}
    if accesses:
        for override in AccessOverride.objects.filter(
            reservation_id__in={a.reservation_id for a in accesses}
        ):
            overrides[(override.reservation_id, override.assignment_id)] = override
    device_ids = {a.device_id for a in assignments}
    unmanaged = list(
        UnmanagedCode.objects.filter(device_id__in=device_ids)
        .filter(Q(starts_at__isnull=True) | Q(starts_at__lt=end))
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .select_related("device")
        .order_by("device__name", "name", "pk")
    )

    groups = []
    for listing in listings:
        stays = Lane(
            key=f"{listing.pk}-stays", kind="stays", label="Stays", detail="check-in to check-out"
        )
        stays.bars = [_stay_bar(r, zone) for r in reservations if r.listing_id == listing.pk]
        lanes = [stays]
        crew = [_crew_bar(t, zone) for t in turnovers if t.listing_id == listing.pk]
        crew += [_standing_bar(s, zone, end) for s in standings if s.listing_id == listing.pk]
        if crew:
            lanes.append(
                Lane(
                    key=f"{listing.pk}-crew",
                    kind="crew",
                    label="Crew",
                    detail="turnover codes, staff doors",
                    bars=crew,
                )
            )
        by_device: dict[int, Lane] = {}
        for assignment in assignments:
            if assignment.listing_id != listing.pk:
                continue
            device = assignment.device
            lane = Lane(
                key=f"{listing.pk}-lock-{device.pk}",
                kind="lock",
                label=_label(device.name),
                detail=_device_detail(assignment),
                href=reverse("admin:locks_device_change", args=[device.pk]),
                device_id=device.pk,
            )
            by_device[device.pk] = lane
            lanes.append(lane)
        for access in accesses:
            if access.reservation.listing_id != listing.pk:
                continue
            lane = by_device.get(access.device_id)
            if lane is None:  # a lock the listing no longer uses still shows its codes
                device = access.device
                lane = Lane(
                    key=f"{listing.pk}-lock-{device.pk}",
                    kind="lock",
                    label=_label(device.name),
                    detail="no longer at this listing",
                    href=reverse("admin:locks_device_change", args=[device.pk]),
                    device_id=device.pk,
                )
                by_device[device.pk] = lane
                lanes.append(lane)
            override = overrides.get((access.reservation_id, access.assignment_id))
            lane.bars.append(_code_bar(access, override, zone, now))
        listing_devices = {a.device_id for a in assignments if a.listing_id == listing.pk}
        for code in unmanaged:
            if code.device_id not in listing_devices:
                continue
            lanes.append(
                Lane(
                    key=f"{listing.pk}-unmanaged-{code.pk}",
                    kind="unmanaged",
                    label=_label(code.display_name),
                    detail=_label(f"on {code.device.name}", 32),
                    href=reverse("admin:locks_unmanagedcode_change", args=[code.pk]),
                    device_id=code.device_id,
                    bars=[_unmanaged_bar(code, range_, zone)],
                )
            )
        for lane in lanes:
            _place(lane, range_)
        groups.append(Group(listing=listing, lanes=lanes, header=headers))

    height = _stack(groups)
    today = now.astimezone(zone).date()
    abbreviations = []
    for instant in (start, end):
        abbreviation = instant.astimezone(zone).strftime("%Z")
        if abbreviation not in abbreviations:
            abbreviations.append(abbreviation)
    return Timeline(
        range=range_,
        now=now,
        groups=groups,
        days=_days(range_, today),
        height=height,
        zone_name=str(zone.key),
        zone_abbreviations="/".join(abbreviations),
        now_x=range_.x(now) if range_.contains(now) else None,
        now_label=f"now {now.astimezone(zone):%H:%M}",
    )
