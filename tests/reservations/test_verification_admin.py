"""Guest verification in the admin: staff release a held code (recorded with who), a
manager holds stays confirmed before verification was switched on (asked first, told how
many), and a held code is shown to nobody on the reservation page or the front desk."""

import datetime

import time_machine
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from reservations.models import LockAccess, Reservation, VerificationStep
from tests.fixtures_lifecycle import run_at
from tests.reservations.admin_pages import change_url, do_url

State = LockAccess.State
CHANGELIST = "admin:reservations_reservation_changelist"


def held_stay(wired, **fields):
    wired.listing.requires_verification = True
    wired.listing.save()
    reservation = wired.book(**fields)
    assert reservation.code_held
    return Reservation.objects.get(pk=reservation.pk)


def test_a_held_code_is_shown_to_nobody_on_the_page_and_the_desk(wired, staff_client):
    reservation = held_stay(wired, days_ahead=0, nights=2)
    code = reservation.code.value
    page = staff_client.get(change_url(reservation)).content.decode()
    assert code not in page
    assert "Held until the guest is verified" in page
    assert "Mark guest verified" in page and "Rotate code" not in page
    desk = staff_client.get(reverse("front_desk")).content.decode()
    assert "Code held until the guest is verified" in desk and code not in desk
    refused = staff_client.post(reverse("desk_reveal", args=[reservation.pk]))
    assert refused.status_code == 400 and code not in refused.content.decode()


def test_staff_mark_the_guest_verified_and_the_release_is_recorded_with_who(
    wired, staff_client, org_a
):
    reservation = held_stay(wired, days_ahead=0, nights=2)
    staff_client.post(do_url(reservation, "verify"))
    reservation.refresh_from_db()
    assert reservation.verified_at is not None and not reservation.code_held
    assert reservation.verified_by == org_a.staff.get_username()
    step = VerificationStep.objects.get(reservation=reservation, kind="verified")
    assert step.by == org_a.staff.get_username()
    entry = LogEntry.objects.get(object_id=str(reservation.pk), user=org_a.staff)
    assert entry.change_message == "Mark guest verified."
    # Check-in is today and the code's lead time has passed: it goes on at once.
    run_at(timezone.now() + datetime.timedelta(seconds=5))
    code = reservation.code.value
    assert [c.code for c in wired.codes_on(wired.gate)] == [code]
    assert [c.code for c in wired.codes_on(wired.side)] == [code]
    page = staff_client.get(change_url(reservation)).content.decode()
    assert code in page and "Guest verified" in page
    # Revoked from its page before check-in (it asks first): held again, off the locks.
    later = held_stay(wired, days_ahead=5, guest_name="Ana Sousa")
    staff_client.post(do_url(later, "verify"))
    asked = staff_client.post(do_url(later, "unverify"))
    assert "Yes, revoke verification" in asked.content.decode()
    staff_client.post(do_url(later, "unverify"), {"confirmed": "yes"})
    assert Reservation.objects.get(pk=later.pk).code_held


def test_the_bulk_hold_asks_first_says_how_many_and_takes_codes_off(midday, wired, manager_client):
    on_locks = wired.book(days_ahead=0, nights=2, guest_name="Early One")
    run_at(timezone.now() + datetime.timedelta(seconds=5))
    code = on_locks.code.value
    assert [c.code for c in wired.codes_on(wired.gate)] == [code]
    later = wired.book(days_ahead=6, guest_name="Later One")
    wired.listing.requires_verification = True
    wired.listing.save()
    already = wired.book(days_ahead=12, guest_name="Already Held")
    assert not Reservation.objects.get(pk=on_locks.pk).code_held  # they keep their codes

    chosen = {"action": "hold_selected", "_selected_action": [on_locks.pk, later.pk, already.pk]}
    asked = manager_client.post(reverse(CHANGELIST), chosen)
    text = asked.content.decode()
    assert "2 of the 3 selected stays will be held" in text
    # Each count agrees with its words (this read "1 of them have a code").
    assert "1 of them has a code on the locks, which comes off now" in text
    assert "1 will be left as it is" in text
    assert not Reservation.objects.get(pk=later.pk).code_held  # nothing yet

    done = manager_client.post(
        reverse(CHANGELIST),
        {**chosen, "_selected_action": [on_locks.pk, later.pk], "confirmed": "yes"},
        follow=True,
    )
    assert "2 stays held until their guests are verified." in done.content.decode()
    assert Reservation.objects.get(pk=on_locks.pk).code_held
    assert Reservation.objects.get(pk=later.pk).code_held
    assert VerificationStep.objects.filter(kind="held").count() == 3
    run_at(timezone.now() + datetime.timedelta(minutes=2))
    assert wired.codes_on(wired.gate) == [] and wired.codes_on(wired.side) == []
    assert LogEntry.objects.filter(change_message="Held until the guest is verified.").count() == 2
    # Held, their codes off the locks by design: not "a code but no door" on the dashboard.
    dashboard = manager_client.get(reverse("dashboard")).content.decode()
    no_door = dashboard[dashboard.index('id="no-door"') :]
    no_door = no_door[: no_door.index("</div>")]
    assert "Early One" not in no_door and "Later One" not in no_door


def test_a_stay_that_has_begun_is_never_held_by_the_bulk_action(wired, manager_client):
    inside = wired.book(days_ahead=0, nights=2)
    with time_machine.travel(inside.check_in + datetime.timedelta(hours=1), tick=False):
        manager_client.force_login(inside.listing.organization.memberships.first().user)
        answer = manager_client.post(
            reverse(CHANGELIST),
            {"action": "hold_selected", "_selected_action": [inside.pk]},
            follow=True,
        )
    assert "None of the selected stays can be held" in answer.content.decode()
    assert not Reservation.objects.get(pk=inside.pk).code_held


def test_holding_one_stay_speaks_of_one_stay(midday, wired, manager_client):
    on_locks = wired.book(days_ahead=0, nights=2, guest_name="Early One")
    run_at(timezone.now() + datetime.timedelta(seconds=5))
    chosen = {"action": "hold_selected", "_selected_action": [on_locks.pk]}
    text = manager_client.post(reverse(CHANGELIST), chosen).content.decode()
    assert (
        "The selected stay will be held until its guest is verified; its code comes off the "
        "locks now. The guest is told nothing more until verified."
    ) in text
    done = manager_client.post(reverse(CHANGELIST), {**chosen, "confirmed": "yes"}, follow=True)
    assert "1 stay held until its guest is verified." in done.content.decode()
