"""Calendar feeds at scale: a sync pass over 500 listings, one feed each, 50 events per
calendar, served by a real HTTP server on loopback. Prints; asserts nothing.

Two passes: the first reads every calendar and creates its stays (40 bookings and 10
blocks per calendar: 20,000 stays); the second finds nothing changed, so each feed costs
one conditional request (the server answers 304 to the ETag) and writes nothing to stays.
Time and queries per pass, and per feed.

In production each feed is a task of its own (`calendar_feeds.tasks.sync_feed`, queued by
the periodic pass), run by the cluster's workers side by side; here they run one after the
other in this process, so the time is the work of one worker.

Run with `make bench` or `.venv/bin/python bench/calendar_feeds.py [listings]`.
"""

from __future__ import annotations

import datetime
import hashlib
import http.server
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = Path(tempfile.mkdtemp(prefix="keystay-bench-feeds-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORKDIR / 'bench.sqlite3'}")
os.environ["KEYSTAY_DEMO"] = "false"
os.environ["KEYSTAY_OUTBOUND_ALLOW_HTTP"] = "true"
os.environ["KEYSTAY_OUTBOUND_ALLOW_PRIVATE"] = "true"
os.environ.setdefault("LOG_LEVEL", "WARNING")

LISTINGS = int(sys.argv[1]) if len(sys.argv) > 1 else 500
EVENTS, BOOKINGS = 50, 40


def calendar(n: int, today: datetime.date) -> bytes:
    """Listing n's Airbnb export: 40 bookings of two nights with a night between, then 10
    blocks."""
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN", "VERSION:2.0"]
    for e in range(EVENTS):
        start = today + datetime.timedelta(days=2 + 3 * e)
        end = start + datetime.timedelta(days=2)
        lines += [
            "BEGIN:VEVENT",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
            f"UID:bench-{n}-{e}@airbnb.com",
        ]
        if e < BOOKINGS:
            code = f"HM{n:04d}{e:04d}"
            lines += [
                "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/"
                f"details/{code}\\nPhone Number (Last 4 Digits): {1000 + e}",
                "SUMMARY:Reserved",
            ]
        else:
            lines.append("SUMMARY:Airbnb (Not available)")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def serve(bodies: dict[str, bytes]) -> tuple[http.server.ThreadingHTTPServer, list[int]]:
    answered: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = bodies.get(self.path, b"")
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            status = 304 if self.headers.get("If-None-Match") == tag else 200
            answered.append(status)
            self.send_response(status)
            self.send_header("ETag", tag)
            self.send_header("Content-Type", "text/calendar")
            payload = body if status == 200 else b""
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, answered


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from calendar_feeds.models import CalendarFeed
    from calendar_feeds.services import feed_sync
    from properties.models import Listing, Property
    from properties.services import organization_create
    from reservations.models import Reservation

    today = timezone.localdate()
    bodies = {f"/ical/{n}.ics": calendar(n, today) for n in range(LISTINGS)}
    server, answered = serve(bodies)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    organization, _ = organization_create(name="Bench feeds", owner_username="benchfeeds")
    prop = Property.objects.create(organization=organization, name="Block", time_zone="UTC")
    listings = Listing.objects.bulk_create(
        Listing(organization=organization, property=prop, name=f"Flat {n}")
        for n in range(LISTINGS)
    )
    feeds = []
    for n, listing in enumerate(listings):
        feed = CalendarFeed(listing=listing, organization=organization, channel="airbnb")
        feed.set_url(f"{base}/ical/{n}.ics")
        feeds.append(feed)
    CalendarFeed.objects.bulk_create(feeds)
    ids = list(CalendarFeed.objects.order_by("pk").values_list("pk", flat=True))
    size = sum(len(b) for b in bodies.values()) // len(bodies)
    print(
        f"Calendar feeds: {LISTINGS} listings x 1 feed x {EVENTS} events "
        f"({BOOKINGS} bookings, {EVENTS - BOOKINGS} blocks; {size:,} bytes per calendar), "
        f"{connection.vendor}"
    )

    for label in ("first pass (every stay new)", "unchanged pass (conditional GET)"):
        answered.clear()
        outcomes: dict[str, int] = {}
        counted = {"queries": 0, "stay_writes": 0}

        def count(execute, sql, params, many, context, counted=counted):
            counted["queries"] += 1
            write = sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
            if write and ('"reservations_' in sql or '"calendar_feeds_feedevent"' in sql):
                counted["stay_writes"] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            cpu = time.process_time()
            for feed_id in ids:
                outcome = feed_sync(feed_id=feed_id).outcome
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
        queries, writes_to_stays = counted["queries"], counted["stay_writes"]
        print(
            f"  {label}: {elapsed:.1f} s wall, {cpu:.1f} s CPU "
            f"({elapsed / len(ids) * 1000:.0f} ms per feed), "
            f"{queries} queries ({queries / len(ids):.1f} per feed), "
            f"{writes_to_stays} writes to stays and feed events; "
            f"requests: {answered.count(200)} x 200, {answered.count(304)} x 304; "
            f"outcomes {outcomes}"
        )
    print(
        f"  stays: {Reservation.objects.filter(organization=organization).count():,} "
        "(confirmed, from the feeds)"
    )
    server.shutdown()


if __name__ == "__main__":
    main()
