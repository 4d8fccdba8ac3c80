"""The dashboard tells the truth: who arrives and leaves today and tomorrow (each property's
own days) with each door's state, codes failing or late, stays whose code goes on no door,
each lock in trouble once, doors that take no codes said so, counts that open the admin
list they count, every time in the property's zone with the zone named."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from locks.models import Device, LockAssignment
from reservations import services
from reservations.models import DeviceAlert, LockAccess, Reservation
from tests.factories import DeviceFactory, ListingFactory, LockAssignmentFactory
from tests.fixtures_lifecycle import run_at
from tests.reservations.test_dashboard import section

pytestmark = pytest.mark.django_db

LISBON = zoneinfo.ZoneInfo("Europe/Lisbon")


def shown(instant, zone=LISBON) -> str:
    """An instant as every page writes it: date, time and the zone's name."""
    return timezone.localtime(instant, zone).strftime("%Y-%m-%d %H:%M %Z")


def at_local(days: int, hour: int, zone=LISBON) -> datetime.datetime:
    today = timezone.localdate(timezone=zone)
    return datetime.datetime.combine(
        today + datetime.timedelta(days=days), datetime.time(hour), zone
    )


def rows_of(html: str, css: str) -> list[str]:
    """The table rows of one class in a piece of the page."""
    parts = html.split(f'<tr class="{css}"')[1:]
    return [part.split("</tr>", 1)[0] for part in parts]


def row_of(html: str, css: str, guest: str) -> str:
    matching = [row for row in rows_of(html, css) if guest in row]
    assert len(matching) == 1, f"{guest} in {len(matching)} rows of {css}"
    return matching[0]


def the_day(page: str, module: str, day: str) -> str:
    """Today's or tomorrow's part of the arrivals or departures."""
    part = section(page, module)
    start = part.index(f'id="{module}-{day}"')
    end = part.find("<h3", start + 1)
    return part[start : end if end != -1 else None]


def ended_and_cancelled(wired):
    """At 16:00 in Lisbon: Ana arrived today and staff ended her stay, Ben's stay today was
    cancelled, Carla arrives tomorrow, Dan left this morning. Returns them by name."""
    ana = wired.book(days_ahead=0, nights=3, guest_name="Ana Early")
    ben = wired.book(days_ahead=0, nights=2, guest_name="Ben Cancelled")
    carla = wired.book(days_ahead=1, nights=2, guest_name="Carla Tomorrow")
    dan = wired.book(days_ahead=-2, nights=2, guest_name="Dan Leaving")
    run_at(timezone.now())
    services.reservation_end_stay(reservation=Reservation.objects.get(pk=ana.pk))
    services.reservation_cancel(reservation=Reservation.objects.get(pk=ben.pk))
    run_at(timezone.now())  # the sweep asks the locks to drop their codes
    return {"ana": ana, "ben": ben, "carla": carla, "dan": dan}


def test_a_stay_ended_early_or_cancelled_leaves_the_arrivals(wired, manager_client):
    with time_machine.travel(at_local(0, 16), tick=False):
        stays = ended_and_cancelled(wired)
        page = manager_client.get(reverse("dashboard")).content.decode()

    today = the_day(page, "arrivals", "today")
    assert "Today (0)" in today and "No arrivals today." in today
    assert "Ana Early" not in today and "Ben Cancelled" not in today
    tomorrow = the_day(page, "arrivals", "tomorrow")
    assert "Tomorrow (1)" in tomorrow
    carla = row_of(tomorrow, "ks-arrival", "Carla Tomorrow")
    assert shown(stays["carla"].check_in) in carla  # 15:00 tomorrow, the zone named
    # Each of her doors with where her code is; the lock without guest access is not one.
    assert 'data-door="Garden Gate"' in carla and 'data-door="Side Door"' in carla
    assert "Fake August Lock 2" not in carla

    leaving = the_day(page, "departures", "today")
    assert "Today (2)" in leaving and "Ben Cancelled" not in leaving
    ana = row_of(leaving, "ks-departure", "Ana Early")
    assert (
        "stay ended early" in ana
        and shown(Reservation.objects.get(pk=stays["ana"].pk).ended_at) in ana
    )
    # Her code leaves the doors, and the page says why.
    assert "stay ended early)" in ana and "Garden Gate: remov" in ana
    dan = row_of(leaving, "ks-departure", "Dan Leaving")
    assert shown(stays["dan"].check_out) in dan and "stay ended early" not in dan
    assert "Ben Cancelled" not in page.split('id="zones"', 1)[1].split('id="alerts"', 1)[0]


def test_each_day_is_the_propertys_own(org_a, manager_client):
    """At 23:30 in Lisbon it is already tomorrow in Tokyo: a Tokyo stay checking in at
    15:00 local on Tokyo's today is today's, whatever day it is on the server."""
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    org_a.property.time_zone = "Asia/Tokyo"
    org_a.property.save()
    with time_machine.travel(at_local(0, 23) + datetime.timedelta(minutes=30), tick=False):
        check_in = at_local(0, 15, tokyo)
        stay = services.reservation_create(
            listing=org_a.listing,
            guest_name="Kenji Tokyo",
            check_in=check_in,
            check_out=check_in + datetime.timedelta(days=2),
            status=Reservation.Status.CONFIRMED,
        )
        page = manager_client.get(reverse("dashboard")).content.decode()
        listed = manager_client.get(
            reverse("admin:reservations_reservation_changelist") + "?arriving=today"
        ).content.decode()
    arrival = row_of(the_day(page, "arrivals", "today"), "ks-arrival", "Kenji Tokyo")
    assert shown(stay.check_in, tokyo) in arrival and " JST" in arrival
    assert "Asia/Tokyo" in page.split('id="zones"', 1)[1].split("</p>", 1)[0]
    # The count opens the admin list of the same stays.
    assert "Kenji Tokyo" in listed and "1 reservation" in listed


def test_a_stay_with_a_code_and_no_guest_door_is_listed(org_a, manager_client):
    lonely = ListingFactory(property=org_a.property, name="Garden Studio")
    LockAssignmentFactory(listing=lonely, device=org_a.device, guest_access=False)
    with time_machine.travel(at_local(0, 10), tick=False):
        stay = services.reservation_create(
            listing=lonely,
            guest_name="Nadia Nodoor",
            check_in=at_local(2, 15),
            check_out=at_local(4, 11),
            status=Reservation.Status.CONFIRMED,
        )
        assert stay.code.value  # she has a code…
        assert not stay.lock_accesses.exists()  # …that goes on no lock
        page = manager_client.get(reverse("dashboard")).content.decode()
        listed = manager_client.get(
            reverse("admin:reservations_reservation_changelist") + "?codes=no_door"
        ).content.decode()
    no_door = section(page, "no-door")
    assert "Stays with a code but no door (1)" in no_door
    assert "Nadia Nodoor" in row_of(no_door, "ks-no-door", "Nadia Nodoor")
    assert shown(stay.check_in) in no_door
    assert f'href="{reverse("admin:reservations_reservation_changelist")}?codes=no_door"' in (
        no_door
    )
    assert "Nadia Nodoor" in listed and org_a.reservation.guest_name not in listed

    # Given a door, she leaves the list.
    LockAssignment.objects.filter(listing=lonely).delete()
    from locks.services import assignment_create

    with time_machine.travel(at_local(0, 10), tick=False):
        assignment_create(listing=lonely, device=org_a.device, role="primary", guest_access=True)
        page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Stays with a code but no door (0)" in page


def test_a_code_not_sent_long_after_its_instant_is_late(org_a, manager_client):
    now = at_local(0, 9)
    with time_machine.travel(now, tick=False):
        stay = services.reservation_create(
            listing=org_a.listing,
            guest_name="Lena Late",
            check_in=at_local(0, 15),
            check_out=at_local(2, 11),
            status=Reservation.Status.CONFIRMED,
        )
        access = stay.lock_accesses.get()
        LockAccess.objects.filter(pk=access.pk).update(due_at=now - datetime.timedelta(minutes=5))
        page = manager_client.get(reverse("dashboard")).content.decode()
        assert "Codes late (0)" in page  # the sweep may be a few minutes behind: not late
        LockAccess.objects.filter(pk=access.pk).update(
            state=LockAccess.State.PROGRAMMING, due_at=now - datetime.timedelta(minutes=25)
        )
        page = manager_client.get(reverse("dashboard")).content.decode()
        listed = manager_client.get(
            reverse("admin:reservations_reservation_changelist") + "?codes=late"
        ).content.decode()
    late = section(page, "late")
    assert "Codes late (1)" in late
    row = row_of(late, "ks-late", "Lena Late")
    assert "Sending to the provider" in row
    assert shown(now - datetime.timedelta(minutes=25)) in row
    assert "Lena Late" in listed


def test_an_offline_lock_low_on_battery_is_listed_once(org_a, manager_client, org_b, client):
    cellar = DeviceFactory(
        connection=org_a.device.connection, name="Cellar Door", online=False, battery_level=0.05
    )
    LockAssignmentFactory(listing=org_a.listing, device=cellar, guest_access=False)
    now = timezone.now()
    for kind, message in (
        (DeviceAlert.Kind.OFFLINE, "Lock offline."),
        (DeviceAlert.Kind.LOW_BATTERY, "Battery at 5%."),
    ):
        DeviceAlert.objects.create(
            organization=org_a.organization,
            device=cellar,
            kind=kind,
            message=message,
            opened_at=now - datetime.timedelta(hours=2),
        )
    page = manager_client.get(reverse("dashboard")).content.decode()
    assert page.count("Cellar Door") == 1  # one row, not one per section
    row = row_of(section(page, "alerts"), "ks-lock", "Cellar Door")
    assert "offline" in row and "battery 5%" in row
    assert "Lock offline" in row and "Battery low" in row
    assert row.count("Acknowledge</button>") == 2
    assert shown(now - datetime.timedelta(hours=2)) in row  # in its listing's zone
    counts = section(page, "alerts")
    devices = reverse("admin:locks_device_changelist")
    assert f'href="{devices}?online__exact=0&amp;removed=no">1 offline</a>' in counts
    assert f'href="{devices}?battery=low&amp;removed=no">1 low on battery</a>' in counts
    alerts = reverse("admin:reservations_devicealert_changelist")
    assert f'href="{alerts}?state=open">2 open alerts</a>' in counts
    # The counts open lists that hold what they count.
    listed = manager_client.get(f"{devices}?online__exact=0&removed=no").content.decode()
    assert "Cellar Door" in listed
    listed = manager_client.get(f"{devices}?battery=low&removed=no").content.decode()
    assert "Cellar Door" in listed

    client.force_login(org_b.manager)
    assert "Cellar Door" not in client.get(reverse("dashboard")).content.decode()


def test_a_lock_a_guest_needs_soon_is_listed_once_at_the_top_with_its_alert(org_a, manager_client):
    door = org_a.device  # the listing's guest-access lock
    Device.objects.filter(pk=door.pk).update(online=False, battery_level=0.1)
    alert = DeviceAlert.objects.create(
        organization=org_a.organization,
        device=door,
        kind=DeviceAlert.Kind.OFFLINE,
        opened_at=timezone.now(),
    )
    services.reservation_create(
        listing=org_a.listing,
        guest_name="Sam Soon",
        check_in=timezone.now() + datetime.timedelta(hours=20),
        check_out=timezone.now() + datetime.timedelta(days=3),
        status=Reservation.Status.CONFIRMED,
    )
    page = manager_client.get(reverse("dashboard")).content.decode()
    assert page.count(f'data-device="{door.pk}"') == 1  # one row for the lock
    top = row_of(section(page, "lock-health"), "ks-at-risk ks-lock", "Sam Soon")
    assert "offline" in top and "battery 10%" in top and "Lock offline" in top
    assert reverse("alert_acknowledge", args=[alert.pk]) in top
    below = section(page, "alerts")
    assert "Locks offline, low on battery or raising an alert (1)" in below  # counted
    assert "1 offline" in below and "1 open alert" in below
    # Acknowledged, back to the lock's row.
    response = manager_client.post(reverse("alert_acknowledge", args=[alert.pk]))
    assert response["Location"].endswith(f"#lock-{door.pk}")


def test_a_door_that_takes_no_codes_is_said_so_not_failing(org_a, manager_client, settings):
    settings.SEAM_FAKE_ENDPOINT = "http://127.0.0.1:8787"
    entrance = DeviceFactory(
        connection__organization=org_a.organization,
        connection__endpoint="http://127.0.0.1:8787",
        kind=Device.Kind.ACS_ENTRANCE,
        name="Lobby Entrance",
    )
    LockAssignmentFactory(listing=org_a.listing, device=entrance, guest_access=True)
    with time_machine.travel(at_local(0, 9), tick=False):
        services.reservation_create(
            listing=org_a.listing,
            guest_name="Olga Lobby",
            check_in=at_local(0, 15),
            check_out=at_local(2, 11),
            status=Reservation.Status.CONFIRMED,
        )
        page = manager_client.get(reverse("dashboard")).content.decode()
    no_codes = section(page, "no-codes")
    assert "Doors that take no codes on their provider (1)" in no_codes
    assert "Lobby Entrance" in no_codes and "cannot take entrance codes" in no_codes
    arrival = row_of(the_day(page, "arrivals", "today"), "ks-arrival", "Olga Lobby")
    assert "Lobby Entrance: takes no codes on this provider" in arrival
    assert "Codes failing (0)" in page


def test_counts_link_to_the_admin_lists_they_count(org_a, manager_client):
    page = manager_client.get(reverse("dashboard")).content.decode()
    stays = reverse("admin:reservations_reservation_changelist")
    for query in (
        "codes=failing",
        "codes=late",
        "codes=no_door",
        "codes=unconfirmed",
        "overlap=yes",
        "arriving=today",
        "arriving=tomorrow",
        "leaving=today",
        "leaving=tomorrow",
    ):
        assert f'href="{stays}?{query}"' in page
        assert manager_client.get(f"{stays}?{query}").status_code == 200
    devices = reverse("admin:locks_device_changelist")
    assert f'href="{devices}?trouble=yes"' in page
    assert manager_client.get(f"{devices}?trouble=yes").status_code == 200


# ------------------------------------------------------------------- query counts


def populate(org, n: int, tag: str, settings) -> None:
    """`n` of everything the dashboard lists, in `org`."""
    settings.SEAM_FAKE_ENDPOINT = "http://127.0.0.1:8787"
    for i in range(n):
        name = f"{tag}{i}"
        listing = ListingFactory(property=org.property, name=f"Flat {name}")
        door = DeviceFactory(connection=org.device.connection, name=f"Door {name}")
        LockAssignmentFactory(listing=listing, device=door, guest_access=True)
        entrance = DeviceFactory(
            connection__organization=org.organization,
            connection__endpoint="http://127.0.0.1:8787",
            kind=Device.Kind.ACS_ENTRANCE,
            name=f"Entrance {name}",
        )
        LockAssignmentFactory(listing=listing, device=entrance, guest_access=True)
        for days, hour, guest in ((0, 15, "Today"), (1, 15, "Tomorrow"), (-2, 15, "Leaving")):
            services.reservation_create(
                listing=listing,
                guest_name=f"{guest} {name}",
                check_in=at_local(days, hour),
                check_out=at_local(days + 2, 11),
                status=Reservation.Status.CONFIRMED,
            )
        ended = services.reservation_create(
            listing=listing,
            guest_name=f"Ended {name}",
            check_in=at_local(-1, 15),
            check_out=at_local(3, 11),
            status=Reservation.Status.CONFIRMED,
        )
        services.reservation_end_stay(reservation=ended)
        bare = ListingFactory(property=org.property, name=f"Bare {name}")
        services.reservation_create(
            listing=bare,
            guest_name=f"Nodoor {name}",
            check_in=at_local(3, 15),
            check_out=at_local(5, 11),
            status=Reservation.Status.CONFIRMED,
        )
        sick = DeviceFactory(
            connection=org.device.connection,
            name=f"Sick {name}",
            online=False,
            battery_level=0.03,
        )
        DeviceAlert.objects.create(
            organization=org.organization,
            device=sick,
            kind=DeviceAlert.Kind.OFFLINE,
            opened_at=timezone.now(),
        )
    doors = LockAccess.objects.filter(device__name__startswith=f"Door {tag}")
    doors.filter(reservation__guest_name__startswith=f"Today {tag}").update(
        state=LockAccess.State.FAILED, last_error="Seam is unavailable"
    )
    doors.filter(reservation__guest_name__startswith=f"Tomorrow {tag}").update(
        state=LockAccess.State.PROGRAMMING, due_at=timezone.now() - datetime.timedelta(hours=1)
    )


def test_the_dashboards_queries_do_not_grow_with_its_rows(
    org_a, manager_client, settings, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with time_machine.travel(at_local(0, 16), tick=False):
        populate(org_a, 1, "a", settings)
        with CaptureQueriesContext(connection) as one:
            page = manager_client.get(reverse("dashboard")).content.decode()
        assert "Codes failing (1)" in page and "Codes late (1)" in page
        assert "Stays with a code but no door (1)" in page
        populate(org_a, 6, "b", settings)
        with django_assert_max_num_queries(len(one)):
            page = manager_client.get(reverse("dashboard")).content.decode()
    assert "Codes failing (7)" in page and "Codes late (7)" in page
    assert "Stays with a code but no door (7)" in page
    assert the_day(page, "arrivals", "today").count('class="ks-arrival"') == 7
    assert the_day(page, "arrivals", "tomorrow").count('class="ks-arrival"') == 7
    # Each flat's stay that ended this morning, and the one staff ended early.
    assert the_day(page, "departures", "today").count('class="ks-departure"') == 14
    assert "Doors that take no codes on their provider (7)" in page
    assert section(page, "alerts").count('class="ks-lock"') >= 7


def test_the_doors_that_take_no_codes_link_lists_the_doors_it_counts(
    org_a, manager_client, settings
):
    settings.SEAM_FAKE_ENDPOINT = "http://127.0.0.1:8787"
    guest_door, spare = (
        DeviceFactory(
            connection__organization=org_a.organization,
            connection__endpoint="http://127.0.0.1:8787",
            kind=Device.Kind.ACS_ENTRANCE,
            name=name,
        )
        for name in ("Lobby Entrance", "Spare Entrance")
    )
    LockAssignmentFactory(listing=org_a.listing, device=guest_door, guest_access=True)
    page = manager_client.get(reverse("dashboard")).content.decode()
    no_codes = section(page, "no-codes")
    assert "Doors that take no codes on their provider (1)" in no_codes
    href = no_codes.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    listed = manager_client.get(href).content.decode()
    assert "Lobby Entrance" in listed and "Spare Entrance" not in listed
    assert "1 device" in listed
