"""A manager opens a listing's timeline in headless Chromium: each stay's code is drawn on
the doors it is on, where its instants put it, on a laptop and on a phone.

The listing is wired to Seam's official fake server: two guest-access doors (Garden Gate,
Side Door) and one without guest codes; three stays (one with an override on the side
door, one cancelled) and a cleaner's code made in the side door's own app.
"""

import datetime
import pathlib

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from locks.models import LockAssignment
from locks.unmanaged import unmanaged_codes_import
from reservations import services, timeline
from reservations.models import LockAccess
from tests.e2e.browser import sign_in
from tests.fixtures_lifecycle import run_at

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = pathlib.Path(settings.BASE_DIR) / "test-results/screenshots"
HOUR = datetime.timedelta(hours=1)


def _scene(wired):
    first = wired.book(days_ahead=2, nights=3, guest_name="Ana Costa")
    second = wired.book(days_ahead=5, nights=2, guest_name="Ben Okafor")  # same-day turnover
    cancelled = wired.book(days_ahead=9, nights=2, guest_name="Cleo Marsh")
    services.override_set(
        reservation=first,
        assignment=LockAssignment.objects.get(listing=wired.listing, device=wired.side),
        starts_at=first.check_in - 3 * HOUR,  # Ana may go in early by the side door
    )
    # Ana's code goes on both doors (its lead time) and both locks confirm it.
    program_at = max(a.program_at for a in first.lock_accesses.all())
    run_at(program_at)
    wired.lock_reports_set(at=program_at + HOUR)
    services.reservation_cancel(reservation=cancelled)
    wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=wired.side.provider_device_id, code="852741", name="Cleaner"
    )
    unmanaged_codes_import(connection=wired.connection)
    return first, second, cancelled


def _box(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not drawn"
    return box


def _hours(later: str, earlier: str) -> float:
    delta = datetime.datetime.fromisoformat(later) - datetime.datetime.fromisoformat(earlier)
    return delta.total_seconds() / 3600


def _check_bars_sit_on_their_instants(page, wired, first, second, cancelled) -> None:
    svg = page.locator("svg#timeline")
    svg_box = _box(svg)
    scale = svg_box["width"] / float(svg.get_attribute("data-width"))
    plot_left = float(svg.get_attribute("data-plot-left"))
    range_start = svg.get_attribute("data-start")
    per_hour = timeline.DAY_WIDTH / 24

    def left_of(instant: str) -> float:
        return svg_box["x"] + (plot_left + _hours(instant, range_start) * per_hour) * scale

    expected = {  # (stay, door) -> state drawn
        (first.pk, wired.gate.pk): "confirmed",
        (first.pk, wired.side.pk): "confirmed",
        (second.pk, wired.gate.pk): "planned",
        (second.pk, wired.side.pk): "planned",
        (cancelled.pk, wired.gate.pk): "revoked",
        (cancelled.pk, wired.side.pk): "revoked",
    }
    bars = page.locator("a.ks-bar[data-kind=code]")
    expect(bars).to_have_count(len(expected))
    for (stay_id, device_id), state in expected.items():
        bar = page.locator(f"a.ks-bar[data-reservation='{stay_id}'][data-device='{device_id}']")
        expect(bar).to_have_attribute("data-state", state)
        access = LockAccess.objects.get(reservation_id=stay_id, device_id=device_id)
        # The data carries the lock's own window; the box sits where those instants are.
        starts, ends = bar.get_attribute("data-starts"), bar.get_attribute("data-ends")
        assert datetime.datetime.fromisoformat(starts) == access.starts_at
        assert datetime.datetime.fromisoformat(ends) == access.ends_at
        box = _box(bar.locator("rect.ks-window"))
        assert box["x"] == pytest.approx(left_of(starts), abs=1.5)
        assert box["x"] + box["width"] == pytest.approx(left_of(ends), abs=1.5)
        # ...and on its door's lane, nowhere else.
        lane = page.locator(
            f"g.ks-lane[data-kind=lock][data-device='{device_id}'] rect.ks-lane-bg"
        )
        lane_box = _box(lane)
        assert lane_box["y"] <= box["y"] and box["y"] + box["height"] <= (
            lane_box["y"] + lane_box["height"] + 0.5
        )
        lead = bar.locator("rect.ks-lead")
        if state == "revoked":
            expect(lead).to_have_count(0)  # a cancelled stay's code never goes on
        else:  # the lead time: from when the code goes on the lock to its window
            lead_box = _box(lead)
            assert lead_box["x"] == pytest.approx(
                left_of(bar.get_attribute("data-lead-from")), 1.5
            )
            assert lead_box["x"] + lead_box["width"] == pytest.approx(box["x"], abs=1.5)

    # The override: Ana's side-door bar starts three hours before her gate bar, marked.
    gate_bar = f"a.ks-bar[data-reservation='{first.pk}'][data-device='{wired.gate.pk}']"
    gate = _box(page.locator(f"{gate_bar} rect.ks-window"))
    side_bar = page.locator(
        f"a.ks-bar[data-reservation='{first.pk}'][data-device='{wired.side.pk}']"
    )
    expect(side_bar).to_have_attribute("data-override", "1")
    assert gate["x"] - _box(side_bar.locator("rect.ks-window"))["x"] == pytest.approx(
        3 * per_hour * scale, abs=1
    )
    # The door without guest codes has its lane, and no bar.
    back = page.locator(f"g.ks-lane[data-device='{wired.back.pk}']")
    expect(back).to_contain_text("no guest codes")
    expect(back.locator("a.ks-bar")).to_have_count(0)
    # The cleaner's code (ongoing: no window) has a lane of its own across the whole range.
    cleaner_lane = page.locator("g.ks-lane[data-kind=unmanaged]")
    expect(cleaner_lane).to_contain_text("Cleaner")
    cleaner = _box(cleaner_lane.locator("rect.ks-window"))
    assert cleaner["x"] == pytest.approx(svg_box["x"] + plot_left * scale, abs=1.5)
    assert cleaner["x"] + cleaner["width"] == pytest.approx(
        svg_box["x"] + svg_box["width"], abs=1.5
    )
    # Stays: the turnover touches, no overlap is hatched anywhere.
    expect(page.locator("rect.ks-overlap")).to_have_count(0)
    # Now: its line is where the clock is.
    now_line = _box(page.locator("#timeline-now"))
    now = svg.get_attribute("data-now")
    assert now_line["x"] + now_line["width"] / 2 == pytest.approx(left_of(now), abs=1.5)


def test_a_listings_timeline_draws_each_code_on_its_doors_from_its_instants(
    page, live_server, wired
):
    first, second, cancelled = _scene(wired)
    sign_in(page, live_server, "alpha-manager")
    # From the listing's page, as a manager would find it.
    page.goto(
        f"{live_server.url}{reverse('admin:properties_listing_change', args=[wired.listing.pk])}"
    )
    page.click("#timeline-link")
    expect(page.locator("h1")).to_contain_text(f"Timeline of {wired.listing.name}")
    zone = wired.listing.property.zone
    abbreviation = timezone.localtime(timezone.now(), zone).strftime("%Z")
    expect(page.locator("#timeline-zone")).to_contain_text(f"Europe/Lisbon ({abbreviation}")
    expect(page.locator("#timeline-legend")).to_contain_text("Confirmed on the lock")

    _check_bars_sit_on_their_instants(page, wired, first, second, cancelled)
    tooltip = page.locator(
        f"a.ks-bar[data-reservation='{first.pk}'][data-device='{wired.side.pk}'] > title"
    )
    expect(tooltip).to_contain_text("Ana Costa")
    expect(tooltip).to_contain_text("Override on this lock")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "timeline.png"), full_page=True)

    # A bar is a link to its stay.
    page.locator(
        f"a.ks-bar[data-reservation='{second.pk}'][data-device='{wired.gate.pk}'] rect.ks-window"
    ).click()
    expect(page.locator("h1")).to_contain_text("Change reservation")
    expect(page).to_have_url(
        f"{live_server.url}{reverse('admin:reservations_reservation_change', args=[second.pk])}"
    )
    # ...whose page links back to the timeline around that stay.
    page.click("#timeline-link")
    expect(page.locator(f"a.ks-bar[data-reservation='{second.pk}']")).to_have_count(3)

    # Moving a week ahead and back again.
    page.click("#timeline-later")
    page.click("#timeline-earlier")
    expect(page.locator(f"a.ks-bar[data-reservation='{second.pk}']")).to_have_count(3)


def test_on_a_phone_the_timeline_scrolls_sideways_and_keeps_its_geometry(page, live_server, wired):
    first, second, cancelled = _scene(wired)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_server, "alpha-staff")
    page.goto(f"{live_server.url}{reverse('listing_timeline', args=[wired.listing.pk])}")
    scroller = page.locator(".ks-timeline-scroll")
    overflow = scroller.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow > 100  # drawn wide enough to read, the page scrolls it sideways
    width = _box(page.locator("svg#timeline"))["width"]
    assert width >= 700  # its minimum readable width, not squeezed into 390 px
    _check_bars_sit_on_their_instants(page, wired, first, second, cancelled)
    page.screenshot(path=str(SCREENSHOTS / "timeline-phone.png"), full_page=False)
