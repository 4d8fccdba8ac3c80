"""Every admin page writes a time one way, with its zone named, and a battery as a
percentage: no "3:17 p.m." beside "30 Nov, 15:25 WET"."""

import re

import pytest
from django.contrib import admin
from django.urls import reverse

from core.timezones import format_instant
from tests.core.test_admin_pages import REGISTERED, build
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Django's own English formats ("Nov. 30, 2026, 3:17 p.m.") and the other ways Keystay's
# pages used to write times ("30 Nov, 15:25", "30 Nov 2026, 15:25:07").
OTHER_FORMATS = re.compile(
    r"\d{1,2}(:\d{2})? ?[ap]\.m\.|\bmidnight\b|\bnoon\b"
    r"|\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*,? (\d{4},? )?\d{2}:\d{2}"
    r"|(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\. \d{1,2}, \d{4}"
)
ONE_FORMAT = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2} [A-Z+\-0-9]{2,6}\b")


@pytest.mark.parametrize(("label", "model_admin"), REGISTERED, ids=[r[0] for r in REGISTERED])
def test_every_admin_page_writes_times_one_way(client, org_a, label, model_admin):
    obj = build(label, org_a)
    client.force_login(UserFactory(username="root", is_superuser=True))
    opts = model_admin.model._meta
    for view, args in (("changelist", []), ("change", [obj.pk]), ("history", [obj.pk])):
        page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args))
        assert page.status_code == 200
        html = page.content.decode()
        other = OTHER_FORMATS.search(html)
        assert other is None, f"{label} {view} writes a time as “{other.group(0)}”"


def test_a_devices_page_shows_its_battery_as_a_percentage(manager_client, org_a):
    device = org_a.device
    device.battery_level = 0.37
    device.save()
    page = manager_client.get(reverse("admin:locks_device_change", args=[device.pk]))
    html = page.content.decode()
    assert "37%" in html and "0.37" not in html
    listed = manager_client.get(reverse("admin:locks_device_changelist")).content.decode()
    assert "37%" in listed and "0.37" not in listed


def test_times_django_renders_itself_name_their_zone(manager_client, org_a):
    """A read-only date-time (the device's import time) reads like every other time."""
    html = manager_client.get(
        reverse("admin:locks_device_change", args=[org_a.device.pk])
    ).content.decode()
    assert format_instant(org_a.device.created_at) in html
    assert ONE_FORMAT.search(html)


def test_each_admin_page_has_an_icon_and_view_site_opens_the_dashboard(manager_client):
    html = manager_client.get(reverse("admin:index")).content.decode()
    assert 'rel="icon"' in html and "keystay/favicon.svg" in html
    assert f'href="{reverse("dashboard")}">View site</a>' in html
    assert admin.site.site_url == reverse("dashboard")
    assert manager_client.get("/favicon.ico")["Location"].endswith("keystay/favicon.svg")


def test_the_reservation_form_names_the_zone_its_times_are_typed_in(manager_client, org_a):
    reservation = org_a.reservation
    html = manager_client.get(
        reverse("admin:reservations_reservation_change", args=[reservation.pk])
    ).content.decode()
    assert html.count("Times in Europe/Lisbon, the property's zone.") == 2
    assert ".timezonewarning { display: none; }" in html


def test_the_export_preselects_csv(manager_client):
    html = manager_client.get(reverse("admin:properties_listing_export")).content.decode()
    assert '<option value="csv" selected>CSV</option>' in html


def test_keystays_own_pages_write_times_one_way(manager_client, org_a):
    from tests.core.test_admin_pages import _device_alert, _lock_event, _unmanaged_code

    _device_alert(org_a)
    _lock_event(org_a)
    _unmanaged_code(org_a)
    for url in (
        reverse("dashboard"),
        reverse("activity_feed"),
        reverse("smart_devices:list"),
        reverse("listing_timeline", args=[org_a.listing.pk]),
        reverse("admin:properties_listing_change", args=[org_a.listing.pk]),
    ):
        html = manager_client.get(url).content.decode()
        other = OTHER_FORMATS.search(html)
        assert other is None, f"{url} writes a time as “{other.group(0)}”"
        if url in (reverse("dashboard"), reverse("activity_feed")):
            assert ONE_FORMAT.search(html), f"{url} shows the alert or event without its time"
