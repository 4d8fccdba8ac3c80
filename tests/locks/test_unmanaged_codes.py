"""Codes made in the lock's own app (cleaners, owners): imported read-only, never touched,
and never chosen for a guest on that lock. Against Seam's fake, through the real SDK."""

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from locks.gateway import event_info
from locks.models import UnmanagedCode
from locks.selectors import unmanaged_codes_for_listing
from locks.services import devices_sync
from locks.tasks import import_all_unmanaged_codes
from locks.unmanaged import unmanaged_codes_import
from properties.models import CodeStyle
from reservations.activity import unmanaged_codes_for_reservation
from reservations.events import event_record
from tests import fixtures_lifecycle as lifecycle

pytestmark = pytest.mark.django_db

run_at = lifecycle.run_at

SIDE_DOOR = "keystay_lock_low_battery"  # an August lock: the fake simulates codes only there
PHONE = "+351 912 847 392"  # its last six digits, 847392, suit both of the listing's locks


def make_in_lock_app(wired, *, code="852741", name="Cleaner Ana", device_id=SIDE_DOOR):
    return wired.seam.access_codes.simulate.create_unmanaged_access_code(
        device_id=device_id, code=code, name=name
    )


def at_the_provider(wired, device_id=SIDE_DOOR):
    return [
        (c.access_code_id, c.name, c.code, c.starts_at, c.ends_at)
        for c in wired.seam.access_codes.unmanaged.list(device_id=device_id)
    ]


def test_a_code_from_the_lock_app_appears_read_only_after_the_device_import(wired, manager_client):
    made = make_in_lock_app(wired, code="852741", name="Cleaner Ana")
    devices_sync(connection=wired.connection)
    code = UnmanagedCode.objects.get(device=wired.side)
    assert (code.provider_id, code.name, code.code) == (
        made.access_code_id,
        "Cleaner Ana",
        "852741",
    )
    assert code.is_ongoing and code.first_seen_at and code.last_seen_at
    assert "852741" not in code.code_ciphertext  # encrypted at rest

    page = manager_client.get(reverse("admin:locks_device_change", args=[wired.side.pk]))
    html = page.content.decode()
    assert "Cleaner Ana" in html and "••••••" in html and "Always (ongoing)" in html
    assert "852741" not in html  # masked, never a digit
    assert 'name="unmanaged_codes-0-name"' not in html  # no field to change it
    assert 'name="unmanaged_codes-0-DELETE"' not in html  # nor to delete it


def test_keystay_never_changes_or_removes_a_code_from_the_lock_app(wired, manager_client):
    make_in_lock_app(wired, code="852741", name="Cleaner Ana")
    before = at_the_provider(wired)
    devices_sync(connection=wired.connection)
    # A whole stay goes by on that lock: programmed, then removed after check-out.
    reservation = wired.book(days_ahead=1, nights=2)
    access = reservation.lock_accesses.get(device=wired.side)
    run_at(access.due_at)
    run_at(access.ends_at + (access.ends_at - access.starts_at))
    unmanaged_codes_import(connection=wired.connection)
    assert at_the_provider(wired) == before
    # Nor can anyone change it in the admin.
    code = UnmanagedCode.objects.get(device=wired.side)
    change = reverse("admin:locks_unmanagedcode_change", args=[code.pk])
    assert manager_client.post(change, {"name": "Hacked"}).status_code == 403
    delete = reverse("admin:locks_unmanagedcode_delete", args=[code.pk])
    assert manager_client.post(delete, {"post": "yes"}).status_code == 403
    assert UnmanagedCode.objects.get(pk=code.pk).name == "Cleaner Ana"


def test_a_guest_never_gets_digits_a_code_from_the_lock_app_holds_on_that_lock(wired):
    wired.listing.code_style = CodeStyle.PHONE
    wired.listing.save()
    # The phone's last digits are what the generator picks when they are free…
    first = wired.book(guest_phone=PHONE, days_ahead=2, nights=2)
    assert first.code.value == "847392"
    # …a code with those digits on another lock of the workspace changes nothing…
    make_in_lock_app(wired, code="847392", name="Owner", device_id="august_device_1")
    devices_sync(connection=wired.connection)
    second = wired.book(guest_phone=PHONE, days_ahead=20, nights=2)
    assert second.code.value == "847392"
    # …but once the cleaner's ongoing code on the Side Door holds them, they are taken.
    make_in_lock_app(wired, code="847392", name="Cleaner Ana")
    devices_sync(connection=wired.connection)
    third = wired.book(guest_phone=PHONE, days_ahead=40, nights=2)
    assert third.code.value != "847392"
    assert len(third.code.value) == 6


def test_a_code_gone_at_the_provider_is_gone_from_keystay(wired):
    make_in_lock_app(wired)
    devices_sync(connection=wired.connection)
    assert UnmanagedCode.objects.filter(device=wired.side).exists()
    wired.fake.reset()  # the fake cannot delete one unmanaged code: start from its seed
    result = unmanaged_codes_import(connection=wired.connection)
    assert result.removed == 1
    assert not UnmanagedCode.objects.filter(device=wired.side).exists()


def test_a_renamed_code_is_updated_and_seen_again(wired):
    make_in_lock_app(wired, name="Cleaner Ana")
    devices_sync(connection=wired.connection)
    first_seen = UnmanagedCode.objects.get(device=wired.side).first_seen_at
    result = unmanaged_codes_import(connection=wired.connection)
    assert (result.added, result.changed, result.unchanged) == (0, 0, 1)
    code = UnmanagedCode.objects.get(device=wired.side)
    assert code.first_seen_at == first_seen and code.last_seen_at > first_seen


def test_the_periodic_import_reads_codes_made_in_the_lock_app(wired):
    make_in_lock_app(wired, name="Gardener")
    assert "1 new" in import_all_unmanaged_codes()
    assert UnmanagedCode.objects.get(device=wired.side).name == "Gardener"


def test_a_provider_event_about_a_new_code_imports_it(wired, django_capture_on_commit_callbacks):
    made = make_in_lock_app(wired, name="Plumber")
    raw = wired.fake.control(
        "/events/add",
        event_type="access_code.unmanaged.created",
        device_id=SIDE_DOOR,
        access_code_id=made.access_code_id,
    )["event"]
    with django_capture_on_commit_callbacks(execute=True):
        assert event_record(connection=wired.connection, event=event_info(raw)) == "recorded"
    assert UnmanagedCode.objects.get(device=wired.side).name == "Plumber"


def test_codes_are_kept_as_last_seen_while_the_provider_cannot_be_read(wired):
    make_in_lock_app(wired, name="Cleaner Ana")
    devices_sync(connection=wired.connection)
    wired.fake.control("/outage", routes=["/access_codes/unmanaged/list"])
    try:
        result = unmanaged_codes_import(connection=wired.connection)
    finally:
        wired.fake.control("/outage", routes=[])
    assert "Side Door" in result.failed_devices
    assert UnmanagedCode.objects.filter(name="Cleaner Ana").exists()


def test_the_reservation_and_listing_pages_list_the_codes_of_their_doors(
    wired, django_assert_max_num_queries
):
    make_in_lock_app(wired, code="852741", name="Cleaner Ana")
    make_in_lock_app(wired, name="Elsewhere", device_id="august_device_1")  # not this listing
    devices_sync(connection=wired.connection)
    reservation = wired.book()
    reservation = (
        type(reservation).objects.select_related("listing__property").get(pk=reservation.pk)
    )
    with django_assert_max_num_queries(1):
        codes = unmanaged_codes_for_reservation(reservation)
    assert [c.name for c in codes] == ["Cleaner Ana"]
    assert [c.name for c in unmanaged_codes_for_listing(wired.listing)] == ["Cleaner Ana"]
    html = render_to_string("locks/_unmanaged_codes.html", {"unmanaged_codes": codes})
    assert "Cleaner Ana" in html and "Side Door" in html and "••••••" in html
    assert "852741" not in html


def test_the_admin_pages_show_the_codes_read_only_and_masked(wired, staff_client):
    from django.urls import reverse

    make_in_lock_app(wired, code="852741", name="Cleaner Ana")
    devices_sync(connection=wired.connection)
    reservation = wired.book()
    for url in (
        reverse("admin:reservations_reservation_change", args=[reservation.pk]),
        reverse("admin:properties_listing_change", args=[wired.listing.pk]),
    ):
        page = staff_client.get(url).content.decode()
        assert "Cleaner Ana" in page
        assert "852741" not in page
