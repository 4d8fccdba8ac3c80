"""Calendar feeds: adding one, fetching it through the outbound guard, and turning its
events into stays that follow them.

Stays are created, moved and cancelled only through the reservation services
(`reservations.services`), so a feed obeys the same status transitions, validation and
planning of codes as the admin and the API.

Never cancel by accident: an event that disappears cancels its stay only after two whole
fetches of the same calendar in a row without it (HTTP 200, parsed). Anything else — an
error, an HTML page, an empty calendar while stays are coming, a calendar that lost more
than a set share of its coming stays at once — cancels nothing: the feed is marked
failing and the managers are told once.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core import outbound
from core.public_url import absolute_url
from core.text import counted
from core.timezones import format_instant
from properties.models import Listing
from properties.selectors import manager_emails
from reservations.alerts import listing_alert_open, listing_alerts_resolve
from reservations.models import DeviceAlert, Reservation
from reservations.selectors import double_booking_warnings
from reservations.services import reservation_cancel, reservation_create, reservation_update

from . import ical, rules
from .models import CalendarFeed, FeedEvent

logger = logging.getLogger(__name__)

Status = Reservation.Status
LIVE = (Status.PENDING, Status.CONFIRMED)
# Whole fetches in a row without an event before its stay is cancelled.
MISSES_TO_CANCEL = 2


def interval() -> datetime.timedelta:
    return datetime.timedelta(minutes=settings.KEYSTAY_CALENDAR_FEED_INTERVAL_MINUTES)


def timeout_seconds() -> float:
    return float(settings.KEYSTAY_CALENDAR_FEED_TIMEOUT_SECONDS)


def lease() -> datetime.timedelta:
    # Longer than a fetch can take (connect + the whole deadline, per redirect hop) plus
    # the reconcile; a crashed worker's lease runs out by itself.
    return datetime.timedelta(seconds=timeout_seconds() * (outbound.MAX_REDIRECTS + 1) + 120)


def task_timeout() -> int:
    """The per-feed task's own timeout: within the lease, and below the broker's redelivery
    delay (django-q2 runs a task twice whose timeout exceeds `retry`)."""
    retry = int(settings.Q_CLUSTER.get("retry", 180))
    return max(30, min(int(lease().total_seconds()), retry - 30))


# ------------------------------------------------------------------ adding and changing


def feed_url_problem(url: str) -> str | None:
    """Why Keystay would not fetch `url` (None: it would). DNS failures are not a problem
    here: the host may be reachable later, and each fetch checks again."""
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as refused:
        return refused.message
    except OSError:
        return None
    return None


def feed_create(
    *, listing: Listing, channel: str, url: str, events_rule: str = "", now=None
) -> CalendarFeed:
    """A new feed, read at once (after the transaction commits)."""
    now = now or timezone.now()
    problem = feed_url_problem(url)
    if problem:
        raise ValidationError({"url": problem})
    feed = CalendarFeed(listing=listing, channel=channel)
    if events_rule:
        feed.events_rule = events_rule
    feed.set_url(url)
    feed.next_sync_at = now
    feed.full_clean(exclude=["url_ciphertext", "url_hint"])
    feed.save()
    feed_sync_soon(feed_id=feed.pk)
    return feed


def feeds_bulk_create(*, organization, feeds: list[tuple[int, str, str]], now=None) -> int:
    """New feeds (listing id, channel, link) whose links were checked already (the listing
    import's plan): written in one INSERT, each read at once after the commit. A link the
    listing reads already is skipped (added meanwhile). Returns how many were created."""
    now = now or timezone.now()
    listing_ids = {listing_id for listing_id, _channel, _url in feeds}
    listings = Listing.objects.filter(organization=organization).in_bulk(listing_ids)
    present = {
        (feed.listing_id, feed.url)
        for feed in CalendarFeed.objects.filter(listing_id__in=listing_ids).only(
            "listing_id", "url_ciphertext"
        )
    }
    new = []
    for listing_id, channel, url in feeds:
        listing = listings.get(listing_id)
        if listing is None or (listing_id, url) in present:
            continue
        present.add((listing_id, url))
        feed = CalendarFeed(
            listing=listing, organization_id=organization.pk, channel=channel, next_sync_at=now
        )
        feed.set_url(url)
        new.append(feed)
    # SQLite and PostgreSQL give a batch's ids back.
    created = CalendarFeed.objects.bulk_create(new, batch_size=500)
    for feed in created:
        feed_sync_soon(feed_id=feed.pk)
    return len(created)


def feed_update(*, feed: CalendarFeed, url: str = "", now=None, **fields) -> CalendarFeed:
    """Change a feed; a new URL is a new calendar (its validators and state start over)."""
    now = now or timezone.now()
    for name, value in fields.items():
        setattr(feed, name, value)
    if url and url != feed.url:
        problem = feed_url_problem(url)
        if problem:
            raise ValidationError({"url": problem})
        feed.set_url(url)
        feed.etag = feed.last_modified = feed.calendar_identity = ""
        feed.gone_since = feed.gone_alerted_at = None
        feed.next_sync_at = now
    feed.full_clean(exclude=["url_ciphertext", "url_hint"])
    feed.save()
    if feed.next_sync_at == now:
        feed_sync_soon(feed_id=feed.pk)
    return feed


def feed_sync_soon(*, feed_id: int) -> None:
    """Read the feed in a worker of its own, once the caller's transaction committed."""
    transaction.on_commit(lambda: _enqueue(feed_id))


def _enqueue(feed_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task(
            "calendar_feeds.tasks.sync_feed",
            feed_id,
            group="calendar-feeds",
            timeout=task_timeout(),
        )
    except Exception:  # the broker down: the periodic pass reads the feed anyway
        logger.exception("Calendar feed %s not queued", feed_id)


def feeds_enqueue_due(*, now=None, limit: int = 5000) -> int:
    """The periodic pass: each due feed is taken (its next instant pushed on, compare-and-
    set, so two passes never queue one feed twice) and read by a task of its own: a slow
    calendar holds back only itself."""
    now = now or timezone.now()
    due = list(
        CalendarFeed.objects.filter(active=True)
        .filter(Q(next_sync_at__lte=now) | Q(next_sync_at__isnull=True))
        .order_by("next_sync_at", "pk")
        .values_list("pk", "next_sync_at")[:limit]
    )
    queued = 0
    for pk, due_at in due:
        taken = CalendarFeed.objects.filter(pk=pk, next_sync_at=due_at).update(
            next_sync_at=now + interval()
        )
        if taken:
            _enqueue(pk)
            queued += 1
    return queued


# ------------------------------------------------------------------------ one sync


@dataclass
class SyncResult:
    outcome: str  # "synced", "not_modified", "failing", "busy"
    message: str = ""
    created: int = 0
    changed: int = 0
    cancelled: int = 0
    ignored: int = 0
    errors: list[str] = field(default_factory=list)
    # Stays this read created or moved onto another confirmed stay's nights.
    double_bookings: list[str] = field(default_factory=list)


def _claim(feed_id: int, now) -> bool:
    return bool(
        CalendarFeed.objects.filter(pk=feed_id)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .update(leased_until=now + lease())
    )


def feed_sync(*, feed_id: int, now=None) -> SyncResult:
    """Fetch one feed and reconcile its stays (the task, "Sync now" and tests call this)."""
    now = now or timezone.now()
    if not _claim(feed_id, now):
        return SyncResult("busy", "Another worker is reading this calendar.")
    try:
        feed = CalendarFeed.objects.select_related("listing__property").get(pk=feed_id)
        return _sync(feed, now)
    except Exception:
        # A bug must not leave the feed looking healthy: it is failing, and says so.
        logger.exception("Calendar feed %s: sync failed", feed_id)
        CalendarFeed.objects.filter(pk=feed_id).update(
            failing=True, last_error="Keystay could not read this calendar (an error of its own)."
        )
        raise
    finally:
        CalendarFeed.objects.filter(pk=feed_id).update(
            leased_until=None, next_sync_at=now + interval()
        )


def _sync(feed: CalendarFeed, now) -> SyncResult:
    headers = {"Accept": "text/calendar, */*;q=0.1", "User-Agent": "Keystay calendar sync"}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    feed.last_fetch_at = now
    try:
        answer = outbound.get(
            feed.url,
            headers=headers,
            max_bytes=settings.KEYSTAY_CALENDAR_FEED_MAX_BYTES,
            deadline=timeout_seconds(),
        )
    except outbound.OutboundRefused as refused:
        return _failed(feed, now, f"Refused: {refused.message}")
    except (OSError, httpx.HTTPError) as error:
        return _failed(feed, now, f"Could not be reached: {type(error).__name__}")

    if answer.status_code == 304:
        return _succeeded(feed, now, "Not modified since the last read (304): nothing to do.")
    if answer.status_code in (404, 410):
        return _gone(feed, now, answer.status_code)
    if answer.status_code != 200:
        return _failed(feed, now, f"The calendar answered HTTP {answer.status_code}.")
    if answer.truncated:
        cap = settings.KEYSTAY_CALENDAR_FEED_MAX_BYTES
        return _failed(feed, now, f"The calendar is larger than {cap:,} bytes: not read.")
    try:
        parsed = ical.parse(answer.body, zone=feed.listing.property.zone)
    except ical.NotACalendar as error:
        return _failed(feed, now, str(error))

    with transaction.atomic():
        result = _reconcile(feed, parsed, now)
        if result.outcome == "failing":
            return _failed(feed, now, result.message, result=result)
        feed.etag = answer.headers.get("etag", "")[:300]
        feed.last_modified = answer.headers.get("last-modified", "")[:100]
        feed.calendar_identity = parsed.identity
        feed.created_count, feed.changed_count = result.created, result.changed
        feed.cancelled_count, feed.ignored_count = result.cancelled, result.ignored
        message = (
            f"Read {counted(len(parsed.items), 'event')}: {result.created} new, {result.changed} "
            f"changed, {result.cancelled} cancelled, {result.ignored} not stays."
        )
        if result.errors:
            message += f" {len(result.errors)} not applied: {result.errors[0]}"
        if result.double_bookings:
            _email_managers(
                feed,
                subject=f"Double booking from the {feed.get_channel_display()} calendar of "
                f"{feed.listing}",
                body=(
                    f"The last read of the {feed.get_channel_display()} calendar of "
                    f"{feed.listing} brought stays that overlap other confirmed stays:\n\n"
                    + "\n".join(f"- {line}" for line in result.double_bookings)
                    + "\n\nBoth stays have their codes. Decide which is real and cancel the "
                    "other; the dashboard lists every double booking."
                ),
            )
        return _succeeded(feed, now, message, result=result)


FEED_ALERTS = (DeviceAlert.Kind.FEED_FAILING, DeviceAlert.Kind.FEED_GONE)


def _alert_key(feed: CalendarFeed) -> str:
    return f"feed-{feed.pk}"


def _open_alert(feed: CalendarFeed, kind: str, now, message: str) -> None:
    """An alert in the alerts list (beside the locks'), about the feed's listing."""
    listing_alert_open(
        listing=feed.listing,
        kind=kind,
        key=_alert_key(feed),
        at=now,
        message=f"{feed} ({feed.masked_url}): {message}",
    )


def _succeeded(feed: CalendarFeed, now, message: str, *, result=None) -> SyncResult:
    recovered = feed.failing or feed.gone_since is not None
    feed.last_success_at = now
    feed.last_status = message[:200]
    feed.last_error = ""
    feed.failing = False
    feed.failing_since = feed.gone_since = feed.gone_alerted_at = None
    feed.save()
    if recovered:
        logger.info("Calendar feed %s read again", feed.pk)
        listing_alerts_resolve(
            kinds=FEED_ALERTS, key=_alert_key(feed), at=now, resolution="The calendar reads again."
        )
    result = result or SyncResult("not_modified", message)
    result.message = message
    return result


def _failed(feed: CalendarFeed, now, message: str, *, result=None) -> SyncResult:
    """Nothing was cancelled: the feed is failing, the managers are told once."""
    first = not feed.failing
    feed.failing = True
    feed.failing_since = feed.failing_since or now
    feed.last_status = "Failing: nothing was cancelled."
    feed.last_error = message[:300]
    feed.save()
    if first and feed.gone_since is None:
        _open_alert(feed, DeviceAlert.Kind.FEED_FAILING, now, f"{message} Nothing was cancelled.")
        _email_managers(
            feed,
            subject=f"Calendar feed failing: {feed}",
            body=(
                f"Keystay could not trust the last read of the {feed.get_channel_display()} "
                f"calendar of {feed.listing} ({feed.masked_url}):\n\n  {message}\n\n"
                "No stay was cancelled and every code stays as it is until someone "
                "decides. Keystay keeps reading the calendar and will say no more about "
                "it until it reads well again."
            ),
        )
    result = result or SyncResult("failing")
    result.outcome, result.message = "failing", message
    return result


def _gone(feed: CalendarFeed, now, status: int) -> SyncResult:
    """404/410: the host regenerated or removed the link. Failing at once, and its own
    alert when it lasts (a channel answers 404 for a moment now and then)."""
    feed.gone_since = feed.gone_since or now
    after = datetime.timedelta(hours=settings.KEYSTAY_CALENDAR_FEED_GONE_ALERT_HOURS)
    if feed.gone_alerted_at is None and now - feed.gone_since >= after:
        feed.gone_alerted_at = now
        _open_alert(
            feed,
            DeviceAlert.Kind.FEED_GONE,
            now,
            f"HTTP {status} since {format_instant(feed.gone_since, feed.listing.property.zone)}: "
            "the host may have made a new link. Paste it into the listing's calendar feeds.",
        )
        _email_managers(
            feed,
            subject=f"Calendar link no longer works: {feed}",
            body=(
                f"The {feed.get_channel_display()} calendar of {feed.listing} "
                f"({feed.masked_url}) has answered HTTP {status} since "
                f"{timezone.localtime(feed.gone_since):%Y-%m-%d %H:%M %Z}. The host may "
                "have made a new link: copy the new export link into the listing's "
                "calendar feeds. No stay was cancelled."
            ),
        )
    return _failed(feed, now, f"The calendar answered HTTP {status} (link gone?).")


# ------------------------------------------------------------------------ reconcile


def _stay_times(listing: Listing, item: ical.FeedItem):
    return listing.local_check_in(item.starts_on), listing.local_check_out(item.ends_on)


def _remember(event: FeedEvent, reservation: Reservation) -> None:
    event.reservation = reservation
    event.applied_check_in = reservation.check_in
    event.applied_check_out = reservation.check_out
    event.applied_guest_name = reservation.guest_name
    event.applied_guest_phone = reservation.guest_phone
    event.applied_status = reservation.status


def _reconcile(feed: CalendarFeed, parsed: ical.Parsed, now) -> SyncResult:
    result = SyncResult("synced")
    known = {event.uid: event for event in feed.events.select_related("reservation")}
    shapes = {event.pk: _shape(event) for event in known.values()}
    items = {item.uid: item for item in parsed.items}
    missing = [event for uid, event in known.items() if uid not in items]
    # A UID that changed, with the same days and summary, is the same event.
    by_shape = {(e.starts_on, e.ends_on, e.summary): e for e in missing}
    for uid, item in items.items():
        if uid in known:
            continue
        same = by_shape.pop((item.starts_on, item.ends_on, item.summary), None)
        if same is not None:
            missing.remove(same)
            del known[same.uid]
            same.uid = uid
            known[uid] = same

    coming = [
        e
        for e in known.values()
        if e.reservation is not None
        and e.reservation.status in LIVE
        and e.reservation.check_in > now
    ]
    lost = [e for e in missing if e in coming]
    same_calendar = not feed.calendar_identity or feed.calendar_identity == parsed.identity
    if coming and not items:
        result.outcome = "failing"
        result.message = (
            f"The calendar came back empty while {counted(len(coming), 'stay')} "
            + ("is" if len(coming) == 1 else "are")
            + " coming: "
            "nothing was cancelled."
        )
        return result
    share = settings.KEYSTAY_CALENDAR_FEED_MAX_LOSS_SHARE
    if len(lost) >= settings.KEYSTAY_CALENDAR_FEED_MASS_LOSS_MIN and len(lost) > share * len(
        coming
    ):
        result.outcome = "failing"
        result.message = (
            f"{len(lost)} of the {len(coming)} coming stays are missing from the calendar "
            "at once: nothing was cancelled (cancel them by hand if they are gone)."
        )
        return result

    # An unchanged calendar of 2,000 events is one UPDATE of when they were seen, not
    # 2,000: an event is written only when what it says (or its stay) changed.
    feed.events.exclude(pk__in=[event.pk for event in missing]).update(last_seen_at=now)
    stays = _ListingStays(feed, known.values())
    new_events: list[FeedEvent] = []
    for uid, item in items.items():
        event = known.get(uid)
        # No savepoint per event (two queries each): the reservation services open their
        # own, so a stay refused by validation leaves the rest of the read intact.
        try:
            applied = _apply(feed, event, item, now, result, stays)
            if applied is None:
                continue
            if applied.pk is None:
                new_events.append(applied)  # written together below: one INSERT
            elif _shape(applied) != shapes.get(applied.pk):
                applied.save()
        except ValidationError as error:
            result.errors.append(f"{item.starts_on}: {_first_message(error)}")
    FeedEvent.objects.bulk_create(new_events, batch_size=500)

    for event in missing:
        try:
            _missed(event, now, result, count=same_calendar)
        except ValidationError as error:
            result.errors.append(f"{event.starts_on}: {_first_message(error)}")
    return result


def _first_message(error: ValidationError) -> str:
    return (error.messages or ["not valid"])[0][:150]


class _ListingStays:
    """The listing's live stays, read once per read of a calendar (and only when an event
    is new) instead of two or three queries per new event; kept up to date as the read
    creates and moves stays. Answers what `_new_kind` and the double-booking check ask."""

    def __init__(self, feed: CalendarFeed, events):
        self.feed = feed
        # Stays this feed's events follow (new ones join as the read creates them).
        self.of_this_feed = {e.reservation_id for e in events if e.reservation_id}
        self._live: dict[int, Reservation] | None = None
        self._followed: set[int] = set()

    @property
    def live(self) -> dict[int, Reservation]:
        if self._live is None:
            listing = self.feed.listing
            self._live = {
                stay.pk: stay
                for stay in Reservation.objects.filter(listing=listing, status__in=LIVE)
            }
            self._followed = set(
                FeedEvent.objects.filter(reservation_id__in=list(self._live)).values_list(
                    "reservation_id", flat=True
                )
            )
        return self._live

    def by_external_id(self, external_id: str) -> Reservation | None:
        """The live stay with this external id (the latest check-in first, as the model
        orders stays)."""
        found = [stay for stay in self.live.values() if stay.external_id == external_id]
        return min(found, key=lambda stay: (-stay.check_in.timestamp(), stay.pk), default=None)

    def is_followed(self, reservation: Reservation) -> bool:
        self.live  # noqa: B018 (reads the followed stays with the live ones)
        return reservation.pk in self._followed

    def other_on_same_days(self, check_in, check_out) -> bool:
        return any(
            stay.check_in == check_in
            and stay.check_out == check_out
            and stay.pk not in self.of_this_feed
            for stay in self.live.values()
        )

    def saved(self, reservation: Reservation) -> None:
        """A stay this read created, moved or brought back, now followed by this feed."""
        self.of_this_feed.add(reservation.pk)
        self._followed.add(reservation.pk)
        if reservation.status in LIVE:
            self.live[reservation.pk] = reservation
        else:
            self.live.pop(reservation.pk, None)

    def double_booking_warnings(self, reservation: Reservation) -> list[str]:
        """The selector's warnings, asked only when a stay in memory overlaps (the usual
        stay overlaps none: no query)."""
        overlaps = any(
            stay.pk != reservation.pk
            and stay.status == Status.CONFIRMED
            and stay.ended_at is None
            and stay.check_in < reservation.check_out
            and stay.check_out > reservation.check_in
            for stay in self.live.values()
        )
        return double_booking_warnings(reservation) if overlaps else []


def _apply(
    feed: CalendarFeed,
    event: FeedEvent | None,
    item: ical.FeedItem,
    now,
    result: SyncResult,
    stays: _ListingStays,
) -> FeedEvent | None:
    """What the event says now, applied to its stay; the event is returned unsaved."""
    listing = feed.listing
    check_in, check_out = _stay_times(listing, item)
    if event is None:
        if check_out <= now:
            return None  # over before Keystay read it: not worth a stay now
        event = FeedEvent(feed=feed, uid=item.uid, first_seen_at=now, last_seen_at=now)
    event.summary, event.misses = item.summary, 0
    event.starts_on, event.ends_on = item.starts_on, item.ends_on

    if event.reservation_id is None and event.kind != FeedEvent.Kind.STAY:
        event.kind = _new_kind(feed, item, check_in, check_out, event, stays)
        if event.kind == FeedEvent.Kind.STAY and event.reservation is None:
            reservation = reservation_create(
                listing=listing,
                now=now,
                guest_name=f"{feed.get_channel_display()} guest",
                guest_phone=item.phone_last_digits,
                check_in=check_in,
                check_out=check_out,
                status=Status.CONFIRMED,
                source=f"{feed.get_channel_display()} calendar",
                external_id=item.confirmation_code,
            )
            _remember(event, reservation)
            stays.saved(reservation)
            result.created += 1
            result.double_bookings += stays.double_booking_warnings(reservation)
        elif event.kind != FeedEvent.Kind.STAY:
            result.ignored += 1
        return event

    reservation = event.reservation
    if reservation is None:  # the stay was deleted by staff: leave the event be
        return event
    changes: dict = {}
    # A field staff changed since the feed last wrote it keeps staff's value.
    wanted = {
        "check_in": (check_in, event.applied_check_in),
        "check_out": (check_out, event.applied_check_out),
        "guest_phone": (
            item.phone_last_digits or reservation.guest_phone,
            event.applied_guest_phone,
        ),
    }
    for name, (value, applied) in wanted.items():
        current = getattr(reservation, name)
        if current == applied and current != value:
            changes[name] = value
    if (
        reservation.status == Status.CANCELLED
        and event.applied_status == Status.CANCELLED
        and check_out > now
    ):
        changes["status"] = Status.CONFIRMED  # the feed cancelled it; the booking is back
    if reservation.status == Status.CHECKED_OUT or reservation.check_out <= now:
        changes = {}  # an ended stay is history
    if changes:
        reservation = reservation_update(reservation=reservation, now=now, **changes)
        _remember(event, reservation)
        stays.saved(reservation)
        result.changed += 1
        if {"check_in", "check_out", "status"} & set(changes):
            result.double_bookings += stays.double_booking_warnings(reservation)
    return event


# What makes a stored event worth writing again (last_seen_at is written in bulk).
_SHAPE_FIELDS = (
    "uid",
    "kind",
    "summary",
    "starts_on",
    "ends_on",
    "reservation_id",
    "misses",
    "applied_check_in",
    "applied_check_out",
    "applied_guest_name",
    "applied_guest_phone",
    "applied_status",
)


def _shape(event: FeedEvent) -> tuple:
    return tuple(getattr(event, name) for name in _SHAPE_FIELDS)


def _new_kind(
    feed: CalendarFeed,
    item: ical.FeedItem,
    check_in,
    check_out,
    event: FeedEvent,
    stays: _ListingStays,
) -> str:
    """Stay, block, or a booking Keystay already has (from the API with the same
    confirmation code, or another feed's stay on the same days): one booking, one stay."""
    if not rules.is_stay(feed.channel, feed.events_rule, item):
        return FeedEvent.Kind.BLOCK
    if item.confirmation_code:
        known = stays.by_external_id(item.confirmation_code)
        if known is not None and not stays.is_followed(known):
            _remember(event, known)  # the API's stay, now followed by its feed
            stays.saved(known)
            return FeedEvent.Kind.STAY
    other = stays.other_on_same_days(check_in, check_out)
    return FeedEvent.Kind.DUPLICATE if other else FeedEvent.Kind.STAY


def _missed(event: FeedEvent, now, result: SyncResult, *, count: bool) -> None:
    """An event not in this whole read of the calendar."""
    if not count:
        return  # another calendar than last time: no miss counts across the change
    event.misses += 1
    reservation = event.reservation
    if event.misses < MISSES_TO_CANCEL:
        event.save(update_fields=["misses"])
        return
    if reservation is None:
        event.delete()  # a block or a duplicate gone: nothing to cancel
        return
    # A stay under way is not cancelled: Airbnb exports coming days only, and a stay
    # drops out of its calendar after its first night. Nor one staff changed the status
    # of, or that ended.
    untouched = reservation.status == event.applied_status
    if reservation.status in LIVE and reservation.check_in > now and untouched:
        reservation = reservation_cancel(reservation=reservation, now=now)
        _remember(event, reservation)
        result.cancelled += 1
    event.save()


# ------------------------------------------------------------------------ telling people


def _feed_url(feed: CalendarFeed) -> str:
    return absolute_url(reverse("admin:calendar_feeds_calendarfeed_change", args=[feed.pk]))


def _email_managers(feed: CalendarFeed, *, subject: str, body: str) -> int:
    recipients = manager_emails(organization_id=feed.organization_id)
    if not recipients:
        return 0
    try:
        return send_mail(
            subject=subject[:200],
            message=f"{body}\n\nFeed: {_feed_url(feed)}",
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # a mail server down must not undo the sync (the dashboard shows it)
        logger.exception("Calendar feed %s: email not sent", feed.pk)
        return 0


def feed_delete(*, feed: CalendarFeed) -> None:
    """The feed goes; its stays stay (a person cancels them if they are not coming)."""
    listing_alerts_resolve(
        kinds=FEED_ALERTS, key=_alert_key(feed), at=timezone.now(), resolution="Feed removed."
    )
    feed.delete()
