"""Leftover codes: a manager marks codes other systems left on the locks and removes them
after a confirmation; never a code Keystay holds for a guest. Against Seam's fake, through
the real SDK (the fake's launcher answers Seam's unmanaged-delete route)."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.timezones import format_instant
from locks.leftovers import RESEND_AFTER, leftover_removals_run_due
from locks.models import Device, LeftoverRemoval, UnmanagedCode
from locks.services import devices_sync
from locks.unmanaged import unmanaged_codes_import
from reservations.models import Turnover
from tests.fixtures_lifecycle import same_day_pair

pytestmark = pytest.mark.django_db

PAGE = reverse("smart_devices:leftovers")
MATCH = reverse("smart_devices:leftovers_match")
MARK = reverse("smart_devices:leftovers_mark")
REMOVE = reverse("smart_devices:leftovers_remove")

FRONT = "august_device_1"  # "Fake August Lock 1": not one of the listing's doors
BACK = "august_device_2"  # "Fake August Lock 2"
SIDE = "keystay_lock_low_battery"  # "Side Door"
GATE = "keystay_lock_constrained"  # "Garden Gate": holds 25 codes


def leave_code(wired, device_id, code, name):
    """A code another system left on a lock; Keystay imports it."""
    made = wired.fake.add_unmanaged(device_id, code, name)
    unmanaged_codes_import(connection=wired.connection)
    return UnmanagedCode.objects.get(provider_id=made["access_code_id"])


def at_the_fake(wired, device_id) -> set[str]:
    return {c.name for c in wired.seam.access_codes.unmanaged.list(device_id=device_id)}


def confirm(client, codes, django_capture_on_commit_callbacks):
    """The manager confirms on the confirmation page; the removal runs (django-q2 runs
    tasks inline under test settings) once the request's transaction commits."""
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(REMOVE, {"code": [c.pk for c in codes]})


def test_marking_by_lock_name_previews_then_marks_exactly_those_codes(
    wired, org_a, manager_client
):
    front = leave_code(wired, FRONT, "739104", "Old PMS 1")
    back = leave_code(wired, BACK, "739105", "Old PMS 2")
    side = leave_code(wired, SIDE, "582913", "Cleaner Ana")

    preview = manager_client.get(MATCH, {"pattern": "fake august*"})
    html = preview.content.decode()
    assert "2 codes to mark as leftover" in html
    assert "Old PMS 1" in html and "Old PMS 2" in html and "Cleaner Ana" not in html
    assert "739104" not in html  # masked
    # A preview marks nothing.
    assert not UnmanagedCode.objects.filter(leftover_at__isnull=False).exists()

    response = manager_client.post(MARK, {"action": "mark", "code": [front.pk, back.pk]})
    assert response.status_code == 302
    marked = UnmanagedCode.objects.filter(leftover_at__isnull=False)
    assert set(marked.values_list("name", flat=True)) == {"Old PMS 1", "Old PMS 2"}
    assert {c.leftover_by for c in marked} == {org_a.manager}
    side.refresh_from_db()
    assert side.leftover_at is None

    # Text without a wildcard matches anywhere in the name; an empty pattern is an error.
    assert "Cleaner Ana" in manager_client.get(MATCH, {"pattern": "side"}).content.decode()
    empty = manager_client.get(MATCH, {"pattern": "  "})
    assert "This field is required." in empty.content.decode()


def test_the_page_shows_leftovers_per_lock_with_the_slots_they_take(
    wired, manager_client, django_assert_max_num_queries
):
    leave_code(wired, GATE, "740319", "Airbnb backup 1")
    code = leave_code(wired, GATE, "740320", "Airbnb backup 2")
    leave_code(wired, SIDE, "582913", "Cleaner Ana")
    manager_client.post(MARK, {"action": "mark", "code": [code.pk]})
    manager_client.get(PAGE)  # shows (and clears) the message of the mark
    with CaptureQueriesContext(connection) as few:
        manager_client.get(PAGE)
    baseline = len(few)
    # More locks, codes and removals: the same number of queries.
    for number, device_id in enumerate((FRONT, BACK)):
        other = leave_code(wired, device_id, f"86109{number}", f"Old PMS {number}")
        manager_client.post(MARK, {"action": "mark", "code": [other.pk]})
        manager_client.post(REMOVE, {"code": [other.pk]})
    assert LeftoverRemoval.objects.count() == 2
    manager_client.get(PAGE)
    with django_assert_max_num_queries(baseline):
        html = manager_client.get(PAGE).content.decode()
    assert "2 codes made outside Keystay, 1 marked leftover" in html
    assert "these take 2 of its 25 slots" in html
    assert "Cleaner Ana" in html and "740319" not in html


def test_removal_after_confirmation_is_gone_at_the_fake_and_recorded(
    wired, manager_client, django_capture_on_commit_callbacks
):
    old = leave_code(wired, FRONT, "739104", "Old PMS 1")
    kept = leave_code(wired, FRONT, "739177", "Owner")
    manager_client.post(MARK, {"action": "mark", "code": [old.pk]})

    # Ticking a code and pressing remove leads to the confirmation, which names each door
    # and code (masked but for its last two digits), and removes nothing yet.
    going = manager_client.post(MARK, {"action": "remove", "code": [old.pk]})
    page = manager_client.get(going["Location"]).content.decode()
    assert "Fake August Lock 1" in page and "Old PMS 1" in page and "••••04" in page
    assert "739104" not in page and "Owner" not in page
    assert at_the_fake(wired, FRONT) == {"Old PMS 1", "Owner"}
    # "Remove every leftover…" confirms exactly the marked ones too.
    every = manager_client.get(REMOVE).content.decode()
    assert every.count('class="confirm-code"') == 1 and "Old PMS 1" in every

    response = confirm(manager_client, [old], django_capture_on_commit_callbacks)
    assert response.status_code == 302
    assert at_the_fake(wired, FRONT) == {"Owner"}
    removal = LeftoverRemoval.objects.get()
    assert removal.state == LeftoverRemoval.State.REMOVED
    assert removal.requested_by.username == removal.requested_by_name == "alpha-manager"
    assert (removal.code_name, removal.code_hint, removal.provider_id) == (
        "Old PMS 1",
        "••••04",
        old.provider_id,
    )
    assert removal.requested_at and removal.sent_at and removal.finished_at
    # The read that confirmed it gone removed its row; the owner's code is untouched.
    assert list(UnmanagedCode.objects.values_list("pk", flat=True)) == [kept.pk]
    html = manager_client.get(PAGE).content.decode()
    assert "Removed (confirmed gone)" in html and "alpha-manager" in html


def test_only_marked_codes_are_removed(wired, manager_client, django_capture_on_commit_callbacks):
    owner = leave_code(wired, FRONT, "739177", "Owner")
    confirm(manager_client, [owner], django_capture_on_commit_callbacks)
    assert at_the_fake(wired, FRONT) == {"Owner"}
    assert not LeftoverRemoval.objects.exists()


def test_a_guests_code_can_never_be_marked_leftover(wired, manager_client):
    reservation = wired.book()
    digits = reservation.code.value
    # Another system's code with the guest's digits (Airbnb's lock connection gives the
    # guest the same code), one named as Keystay names its codes, and a plain one.
    same_digits = leave_code(wired, FRONT, digits, "Airbnb guest")
    named = leave_code(wired, FRONT, "861094", f"KS{reservation.pk}-{wired.side.pk} Maria")
    plain = leave_code(wired, FRONT, "861095", "Old PMS")
    # One whose provider id a stay's record holds (say, a backup code Keystay pulled).
    by_id = leave_code(wired, FRONT, "861096", "Backup")
    reservation.lock_accesses.filter(device=wired.side).update(
        backup_provider_id=by_id.provider_id
    )

    preview = manager_client.get(MATCH, {"pattern": "Fake August Lock 1"}).content.decode()
    assert "1 code to mark as leftover" in preview
    assert "The digits of a Keystay guest&#x27;s or crew&#x27;s code" in preview
    assert "Named as a Keystay guest&#x27;s or crew&#x27;s code" in preview
    assert "the provider&#x27;s id is on Keystay&#x27;s record" in preview

    manager_client.post(
        MARK,
        {"action": "mark", "code": [same_digits.pk, named.pk, plain.pk, by_id.pk]},
        follow=True,
    )
    assert list(
        UnmanagedCode.objects.filter(leftover_at__isnull=False).values_list("name", flat=True)
    ) == ["Old PMS"]


def test_a_cleaners_turnover_code_can_never_be_marked_leftover(crew, manager_client):
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    assert turnover.code  # the crew's own code, planned on the staff doors
    same_digits = leave_code(crew, FRONT, turnover.code, "Cleaning company")
    named = leave_code(crew, FRONT, "861097", f"KT{turnover.pk}-{crew.back.pk} Rosa")

    preview = manager_client.get(MATCH, {"pattern": "Fake August Lock 1"}).content.decode()
    assert "0 codes to mark as leftover" in preview
    assert preview.count('class="refused"') == 2
    assert "The digits of a Keystay guest&#x27;s or crew&#x27;s code" in preview
    manager_client.post(MARK, {"action": "mark", "code": [same_digits.pk, named.pk]})
    assert not UnmanagedCode.objects.filter(leftover_at__isnull=False).exists()


def test_a_code_a_stay_took_since_it_was_marked_is_refused_not_removed(
    wired, manager_client, django_capture_on_commit_callbacks
):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    manager_client.post(MARK, {"action": "mark", "code": [leftover.pk]})
    manager_client.post(REMOVE, {"code": [leftover.pk]})  # queued; the worker not run yet
    # Meanwhile a guest's code with those digits: Keystay's record now holds them.
    reservation = wired.book()
    code = reservation.code
    code.value = "861094"
    code.save()
    leftover_removals_run_due()
    removal = LeftoverRemoval.objects.get()
    assert removal.state == LeftoverRemoval.State.REFUSED
    assert "Keystay guest" in removal.result
    assert at_the_fake(wired, FRONT) == {"Old PMS"}
    leftover.refresh_from_db()
    assert leftover.leftover_at is None  # no longer offered for removal


def test_a_provider_failure_is_retried_and_shown_until_the_code_is_gone(
    wired, manager_client, django_capture_on_commit_callbacks
):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    manager_client.post(MARK, {"action": "mark", "code": [leftover.pk]})
    wired.fake.control("/outage", routes=["/access_codes/unmanaged/delete"])
    try:
        confirm(manager_client, [leftover], django_capture_on_commit_callbacks)
        removal = LeftoverRemoval.objects.get()
        assert removal.state == LeftoverRemoval.State.QUEUED
        assert removal.attempts == 1 and "unavailable" in removal.last_error
        assert removal.due_at > timezone.now()
        html = manager_client.get(PAGE).content.decode()
        assert "Waiting to be sent" in html and "tried 1 time" in html
        # Still down at the next try: tried again later, never dropped.
        with time_machine.travel(removal.due_at, tick=False):
            leftover_removals_run_due()
        removal.refresh_from_db()
        assert removal.state == LeftoverRemoval.State.QUEUED and removal.attempts == 2
    finally:
        wired.fake.control("/outage", routes=[])
    assert at_the_fake(wired, FRONT) == {"Old PMS"}
    with time_machine.travel(removal.due_at, tick=False):
        leftover_removals_run_due()
    removal.refresh_from_db()
    assert removal.state == LeftoverRemoval.State.REMOVED
    assert at_the_fake(wired, FRONT) == set()


def test_a_code_the_lock_keeps_is_not_counted_removed_and_is_asked_again(
    wired, manager_client, django_capture_on_commit_callbacks
):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    manager_client.post(MARK, {"action": "mark", "code": [leftover.pk]})
    wired.fake.unmanaged_stuck(leftover.provider_id)
    confirm(manager_client, [leftover], django_capture_on_commit_callbacks)
    removal = LeftoverRemoval.objects.get()
    # Seam accepted it, but the next read still lists the code: not removed.
    assert removal.state == LeftoverRemoval.State.SENT
    assert "still lists the code" in removal.last_error
    wired.fake.unmanaged_stuck(leftover.provider_id, stuck=False)
    later = removal.sent_at + RESEND_AFTER
    with time_machine.travel(later, tick=False):
        leftover_removals_run_due()  # still listed, long enough: asked again…
        leftover_removals_run_due()  # …sent, and confirmed by the read after it
    removal.refresh_from_db()
    assert removal.state == LeftoverRemoval.State.REMOVED
    assert wired.fake.requests()["/access_codes/unmanaged/delete"] == 2


def test_staff_see_leftovers_but_cannot_mark_or_remove(wired, staff_client):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    UnmanagedCode.objects.filter(pk=leftover.pk).update(leftover_at=timezone.now())
    page = staff_client.get(PAGE)
    html = page.content.decode()
    assert page.status_code == 200 and "Old PMS" in html
    assert 'name="code"' not in html and "Remove every leftover" not in html
    # Told why there is nothing to press, in the words other pages use.
    assert "Only a manager of your organization can mark or remove leftover codes" in html
    assert staff_client.post(MARK, {"action": "mark", "code": [leftover.pk]}).status_code == 403
    assert staff_client.get(REMOVE).status_code == 403
    assert staff_client.post(REMOVE, {"code": [leftover.pk]}).status_code == 403
    assert staff_client.get(MATCH, {"pattern": "*"}).status_code == 403
    assert not LeftoverRemoval.objects.exists()
    assert at_the_fake(wired, FRONT) == {"Old PMS"}


def test_a_manager_of_another_organization_can_neither_mark_nor_remove(
    wired, org_b, django_capture_on_commit_callbacks
):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    stranger = Client()
    stranger.force_login(org_b.manager)
    assert "Old PMS" not in stranger.get(PAGE).content.decode()
    assert "Old PMS" not in stranger.get(MATCH, {"pattern": "*"}).content.decode()
    assert stranger.post(MARK, {"action": "mark", "code": [leftover.pk]}).status_code == 404
    leftover.refresh_from_db()
    assert leftover.leftover_at is None
    UnmanagedCode.objects.filter(pk=leftover.pk).update(leftover_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert stranger.post(REMOVE, {"code": [leftover.pk]}).status_code == 404
        # "Remove every leftover" is every leftover of their own organizations: none.
        assert "No code is marked leftover" in stranger.get(REMOVE).content.decode()
    assert not LeftoverRemoval.objects.exists()
    assert at_the_fake(wired, FRONT) == {"Old PMS"}


def test_another_integrations_warning_is_shown_on_the_lock(wired, manager_client):
    wired.fake.device_warnings(GATE, "third_party_integration_detected")
    devices_sync(connection=wired.connection)
    gate = Device.objects.get(pk=wired.gate.pk)
    assert [w["warning_code"] for w in gate.integration_warnings] == [
        "third_party_integration_detected"
    ]
    leave_code(wired, GATE, "740319", "Airbnb backup")
    for url in (
        reverse("admin:locks_device_change", args=[gate.pk]),
        reverse("smart_devices:list"),
        PAGE,
    ):
        html = manager_client.get(url).content.decode()
        assert "Another integration manages this lock" in html, url
        assert "third_party_integration_detected" in html
    # A second import with nothing changed writes nothing; a cleared warning goes.
    assert devices_sync(connection=wired.connection).updated == []
    wired.fake.device_warnings(GATE)
    devices_sync(connection=wired.connection)
    assert Device.objects.get(pk=gate.pk).integration_warnings == []


def test_the_removal_record_is_in_the_admin_read_only(
    wired, manager_client, django_capture_on_commit_callbacks
):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    manager_client.post(MARK, {"action": "mark", "code": [leftover.pk]})
    confirm(manager_client, [leftover], django_capture_on_commit_callbacks)
    removal = LeftoverRemoval.objects.get()
    html = manager_client.get(
        reverse("admin:locks_leftoverremoval_change", args=[removal.pk])
    ).content.decode()
    assert "Old PMS" in html and "••••94" in html and "861094" not in html
    assert 'name="state"' not in html


def test_a_retried_removal_waits_for_its_due_instant(wired, manager_client):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    manager_client.post(MARK, {"action": "mark", "code": [leftover.pk]})
    manager_client.post(REMOVE, {"code": [leftover.pk]})
    LeftoverRemoval.objects.update(due_at=timezone.now() + datetime.timedelta(minutes=5))
    assert leftover_removals_run_due() == 0
    assert at_the_fake(wired, FRONT) == {"Old PMS"}


def test_a_removal_on_a_lock_gone_at_the_provider_ends_as_failed(wired, manager_client):
    leftover = leave_code(wired, FRONT, "861094", "Old PMS")
    manager_client.post(MARK, {"action": "mark", "code": [leftover.pk]})
    manager_client.post(REMOVE, {"code": [leftover.pk]})  # queued; the worker not run yet
    wired.fake.control("/devices/remove", device_id=FRONT)
    devices_sync(connection=wired.connection)
    leftover_removals_run_due()
    removal = LeftoverRemoval.objects.get()
    assert removal.state == LeftoverRemoval.State.FAILED
    assert "gone at the provider" in removal.result
    assert "The lock is gone at the provider" in manager_client.get(PAGE).content.decode()


def test_a_locks_leftovers_are_confirmed_by_one_read_and_a_rate_limit_holds_back_the_rest(
    wired, manager_client
):
    codes = [leave_code(wired, FRONT, f"86109{n}", f"Old PMS {n}") for n in range(5)]
    manager_client.post(MARK, {"action": "mark", "code": [c.pk for c in codes]})
    manager_client.post(REMOVE, {"code": [c.pk for c in codes[:3]]})
    wired.fake.requests(clear=True)
    assert leftover_removals_run_due() == 3
    assert wired.fake.requests() == {
        "/access_codes/unmanaged/delete": 3,
        "/access_codes/unmanaged/list": 1,
    }
    assert at_the_fake(wired, FRONT) == {"Old PMS 3", "Old PMS 4"}
    assert set(LeftoverRemoval.objects.values_list("state", flat=True)) == {"removed"}

    # Seam's 429 on the lock: the removal waits as long as Seam asked, and Keystay sends
    # the lock's other removal no sooner.
    manager_client.post(REMOVE, {"code": [c.pk for c in codes[3:]]})
    wired.fake.rate_limit(FRONT, times=1, retry_after=120)
    wired.fake.requests(clear=True)
    leftover_removals_run_due()
    assert wired.fake.requests() == {"/access_codes/unmanaged/delete": 1}
    waiting = LeftoverRemoval.objects.filter(state=LeftoverRemoval.State.QUEUED)
    assert waiting.count() == 2
    assert "rate limit" in waiting.exclude(last_error="").get().last_error
    until = Device.objects.get(pk=codes[0].device_id).backoff_until
    assert until >= timezone.now() + datetime.timedelta(seconds=119)
    assert {r.due_at for r in waiting} == {until}
    with time_machine.travel(until, tick=False):
        leftover_removals_run_due()
    assert set(LeftoverRemoval.objects.values_list("state", flat=True)) == {"removed"}
    assert at_the_fake(wired, FRONT) == set()


def test_times_are_in_each_locks_property_zone_named(wired, manager_client):
    wired.listing.property.time_zone = "America/New_York"
    wired.listing.property.save()
    new_york = wired.listing.property.zone
    at_a_door = leave_code(wired, GATE, "740319", "Airbnb backup")
    elsewhere = leave_code(wired, FRONT, "739104", "Old PMS")  # a lock at no listing
    starts = timezone.now().replace(microsecond=0) + datetime.timedelta(days=1)
    UnmanagedCode.objects.filter(pk=at_a_door.pk).update(
        starts_at=starts, ends_at=starts + datetime.timedelta(days=2)
    )
    at_a_door.refresh_from_db()
    valid = (
        f"{format_instant(starts, new_york)} → "
        f"{format_instant(starts + datetime.timedelta(days=2), new_york)}"
    )
    assert valid in manager_client.get(MATCH, {"pattern": "Garden*"}).content.decode()
    manager_client.post(MARK, {"action": "mark", "code": [at_a_door.pk]})
    manager_client.post(REMOVE, {"code": [at_a_door.pk]})
    removal = LeftoverRemoval.objects.get()

    html = manager_client.get(PAGE).content.decode()
    assert valid in html
    for instant in (at_a_door.first_seen_at, removal.requested_at):
        shown = format_instant(instant, new_york)
        assert shown.endswith(("EST", "EDT")) and shown in html
    assert format_instant(elsewhere.first_seen_at, datetime.UTC).replace("+00:00", "UTC") in html
