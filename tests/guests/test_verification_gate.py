"""The verification gate: a stay at a listing that requires a verified guest keeps its
code held (on no lock, in no message, webhook body, guest page or API answer) until it is
verified; then the code goes on every door and the guest's email follows. Against Seam's
fake through the real SDK, a real SMTP server, the clock moved by time-machine and the
worker run as the lifecycle tests run it."""

import datetime
import json

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from guests.links import guest_path
from guests.models import GuestMessage
from hooks import services as hook_services
from hooks.models import WebhookDelivery
from properties.models import Membership
from reservations import services, signals
from reservations import tasks as reservation_tasks
from reservations.models import DeviceAlert, LockAccess, Reservation, VerificationStep
from reservations.prearrival import HELD, prearrival_run_due
from reservations.selectors import taken_codes
from reservations.verification import reservation_verify
from tests.api.conftest import key_client
from tests.fixtures_lifecycle import run_at
from tests.hooks.conftest import local_receivers_allowed, receiver  # noqa: F401  (fixtures)

from .conftest import BOOKED_AT, CHECK_IN, book, scheduled, send_at

State = LockAccess.State
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gated(ny, code_template, smtp, receiver, local_receivers_allowed):  # noqa: F811
    """The New York listing requires a verified guest; a PMS's webhook receiver (a real
    HTTP server) hears every event, codes included; emails reach the SMTP server."""
    ny.listing.requires_verification = True
    ny.listing.save()
    hook_services.endpoint_create(
        organization=ny.listing.organization,
        url=f"{receiver.url}/keystay",
        events=list(signals.EVENTS),
        include_codes=True,
    )
    ny.receiver = receiver
    ny.smtp = smtp
    return ny


def api(wired):
    return key_client(wired.listing.organization, Membership.Role.STAFF, name="Autohost")


def code_of(reservation) -> str:
    return Reservation.objects.get(pk=reservation.pk).code.value


def values_on_fake(wired) -> dict[str, list[str]]:
    return {
        device.name: sorted(c.code for c in wired.codes_on(device))
        for device in (wired.gate, wired.side)
    }


def received(wired, reservation) -> list[dict]:
    """The bodies the PMS's receiver got for this stay, in order."""
    bodies = [json.loads(r.body) for r in wired.receiver.requests]
    return [b for b in bodies if b["data"]["reservation"]["id"] == reservation.pk]


def bodies_sent(wired, reservation) -> list[str]:
    assert not WebhookDelivery.objects.exclude(state=WebhookDelivery.State.DELIVERED).exists()
    return [json.dumps(body) for body in received(wired, reservation)]


def events_sent(wired, reservation) -> list[str]:
    return [body["type"] for body in received(wired, reservation)]


def verify(wired, committed, reservation, at, **data):
    with time_machine.travel(at, tick=False), committed():
        response = api(wired).post(
            f"/api/v1/reservations/{reservation.pk}/verify/", data, format="json"
        )
    assert response.status_code == 200, response.content
    return response.json()


def test_a_held_code_is_nowhere_until_verified_through_the_api_then_on_every_door(
    gated, committed, client
):
    reservation = book(gated, committed)
    code = code_of(reservation)
    accesses = list(reservation.lock_accesses.all())
    assert {a.state for a in accesses} == {State.HELD}
    assert all(a.due_at is None for a in accesses)  # no step planned on any lock

    # Past the lead time (24 h) and the email's instant (48 h before check-in): nothing.
    run_at(CHECK_IN - 47 * HOUR)
    run_at(CHECK_IN - 23 * HOUR)
    assert values_on_fake(gated) == {"Garden Gate": [], "Side Door": []}
    assert send_at(CHECK_IN - 47 * HOUR) >= 1
    assert gated.smtp.messages == []
    message = scheduled(reservation)
    assert message.state == GuestMessage.State.PLANNED  # waiting, not failed nor lost
    assert message.due_at is None and "verified" in message.note
    # The webhook heard the code was generated and held, but no body carries it.
    assert set(events_sent(gated, reservation)) == {
        signals.VERIFICATION_HELD,
        signals.CODE_GENERATED,
    }
    assert all(code not in body for body in bodies_sent(gated, reservation))
    # The guest page and the API show no code either.
    with time_machine.travel(CHECK_IN - 23 * HOUR, tick=False):
        page = client.get(guest_path(reservation)).content.decode()
        answer = api(gated).get(f"/api/v1/reservations/{reservation.pk}/").json()
    assert code not in page
    assert "once your booking is verified" in page
    assert answer["code"] is None and answer["code_held"] is True
    assert answer["code_state"] == "held"
    assert all(lock["code"] is None for lock in answer["locks"])

    verified_at = CHECK_IN - 22 * HOUR
    answer = verify(gated, committed, reservation, verified_at, verified_by="Autohost ID check")
    assert answer["verified_by"] == "Autohost ID check"
    assert answer["code"] == code and answer["code_held"] is False
    # Within seconds, on every door (the worker ran as the request committed; one more
    # sweep a few seconds later finds nothing left to do).
    run_at(verified_at + datetime.timedelta(seconds=5))
    assert values_on_fake(gated) == {"Garden Gate": [code], "Side Door": [code]}
    # The email that fell due while held goes out now, with the code.
    send_at(verified_at + datetime.timedelta(seconds=5))
    assert len(gated.smtp.messages) == 1
    assert code in gated.smtp.bodies()[0]
    # The PMS heard it, with each door's code (a receiver that messages guests needs it).
    assert events_sent(gated, reservation)[-1] == signals.VERIFIED
    assert code in bodies_sent(gated, reservation)[-1]
    steps = list(
        VerificationStep.objects.filter(reservation=reservation)
        .order_by("at", "pk")
        .values_list("kind", "by", "detail")
    )
    assert [step[0] for step in steps] == ["held", "verified"]
    assert steps[0][1] == "the listing's rule"
    # Who said so (the API key, by its label) and what verified the guest.
    assert steps[1][1].startswith("API key") and steps[1][2] == "Autohost ID check"


def test_revoking_verification_takes_the_code_off_every_lock_and_keeps_its_digits(
    gated, committed, client
):
    reservation = book(gated, committed)
    code = code_of(reservation)
    verify(gated, committed, reservation, CHECK_IN - 30 * HOUR, verified_by="PMS")
    run_at(CHECK_IN - 23 * HOUR)
    assert values_on_fake(gated) == {"Garden Gate": [code], "Side Door": [code]}

    revoked_at = CHECK_IN - 20 * HOUR
    with time_machine.travel(revoked_at, tick=False), committed():
        response = api(gated).post(
            f"/api/v1/reservations/{reservation.pk}/unverify/",
            {"reason": "ID expired"},
            format="json",
        )
    assert response.status_code == 200, response.content
    assert response.json()["code"] is None and response.json()["code_held"] is True
    run_at(revoked_at + datetime.timedelta(minutes=2))
    assert values_on_fake(gated) == {"Garden Gate": [], "Side Door": []}
    for access in reservation.lock_accesses.all():
        assert access.state == State.REVOKED
        assert access.reason == LockAccess.Reason.VERIFICATION_REVOKED
    assert signals.VERIFICATION_REVOKED in events_sent(gated, reservation)
    # Nobody else's code takes the held digits meanwhile.
    assert code in taken_codes(
        device_ids=[gated.gate.pk], start=CHECK_IN - HOUR, end=CHECK_IN + HOUR
    )
    with time_machine.travel(revoked_at + HOUR, tick=False):
        assert code not in client.get(guest_path(reservation)).content.decode()
        # After check-in, it can no longer be revoked (a guest inside keeps the door).
    verify(gated, committed, reservation, CHECK_IN - 10 * HOUR)
    run_at(CHECK_IN - 10 * HOUR + datetime.timedelta(seconds=5))
    assert values_on_fake(gated) == {"Garden Gate": [code], "Side Door": [code]}
    with time_machine.travel(CHECK_IN + HOUR, tick=False):
        late = api(gated).post(f"/api/v1/reservations/{reservation.pk}/unverify/")
    assert late.status_code == 400
    assert "begun" in json.dumps(late.json())


def test_verified_after_check_in_goes_on_at_once_and_after_check_out_does_nothing(
    gated, committed
):
    first = book(gated, committed)
    verify(gated, committed, first, CHECK_IN + 2 * HOUR)
    run_at(CHECK_IN + 2 * HOUR + datetime.timedelta(seconds=5))
    code = code_of(first)
    assert values_on_fake(gated) == {"Garden Gate": [code], "Side Door": [code]}

    later_check_in = CHECK_IN + datetime.timedelta(days=10)
    second = book(gated, committed, check_in=later_check_in, nights=2, guest_name="Ana Sousa")
    after = later_check_in + datetime.timedelta(days=3)
    answer = verify(gated, committed, second, after)
    assert answer["verified_at"] is None and answer["code_held"] is True
    run_at(after + datetime.timedelta(seconds=5))
    assert code_of(second) not in [c.code for c in gated.codes_on(gated.gate)]
    assert signals.VERIFIED not in events_sent(gated, second)
    assert VerificationStep.objects.filter(
        reservation=second, kind=VerificationStep.Kind.IGNORED
    ).exists()


def test_an_unverified_stay_raises_its_alert_before_check_in_and_emails_once(
    gated, committed, client, org_a, settings
):
    settings.VERIFICATION_ALERT_HOURS = 24
    reservation = book(gated, committed)
    run_at(CHECK_IN - 23 * HOUR)

    def periodic(at):
        with time_machine.travel(at, tick=False), committed():
            return reservation_tasks.prearrival_checks()

    periodic(CHECK_IN - 25 * HOUR)
    assert gated.smtp.messages == []  # not yet: 24 hours before check-in
    periodic(CHECK_IN - 23 * HOUR)
    periodic(CHECK_IN - 2 * HOUR)
    periodic(CHECK_IN - HOUR)
    manager_mail = [m for m in gated.smtp.messages if "not verified" in m["Subject"]]
    assert len(manager_mail) == 1
    assert manager_mail[0]["To"] == "alpha-manager@example.com"
    assert "Maria Silva" in manager_mail[0]["Subject"]
    assert code_of(reservation) not in gated.smtp.bodies()[0]
    assert events_sent(gated, reservation).count(signals.VERIFICATION_OVERDUE) == 1
    # The pre-arrival check sees the held code as held, not as a lock failure.
    Reservation.objects.filter(pk=reservation.pk).update(prearrival_check_at=CHECK_IN - 2 * HOUR)
    with time_machine.travel(CHECK_IN - 2 * HOUR, tick=False):
        from reservations.prearrival import prearrival_check

        result = prearrival_check(reservation=reservation, now=CHECK_IN - 2 * HOUR)
        prearrival_run_due()
    assert set(result.verdicts.values()) == {HELD}
    # One alert, in the alerts list with the listing's: not verified (no lock failure).
    [alert] = DeviceAlert.objects.filter(reservation=reservation)
    assert alert.kind == DeviceAlert.Kind.NOT_VERIFIED and alert.device_id is None
    assert alert.listing_id == reservation.listing_id and alert.resolved_at is None
    # At check-in the stay tops the dashboard, above the locks in trouble.
    with time_machine.travel(CHECK_IN + 10 * datetime.timedelta(minutes=1), tick=False):
        client.force_login(org_a.manager)
        page = client.get(reverse("dashboard")).content.decode()
    assert 'id="unverified"' in page
    assert page.index('id="unverified"') < page.index('id="lock-health"')
    assert "check-in has come" in page
    with time_machine.travel(CHECK_IN - 5 * HOUR, tick=False):
        client.force_login(org_a.manager)
        page = client.get(reverse("dashboard")).content.decode()
    assert page.index('id="unverified"') > page.index('id="lock-health"')
    # Verified at last: the alert is resolved, saying by what.
    with time_machine.travel(CHECK_IN - HOUR, tick=False), committed():
        reservation_verify(reservation=reservation, by=org_a.manager, source="IDnow")
    alert.refresh_from_db()
    assert alert.resolved_at == CHECK_IN - HOUR and "IDnow" in alert.resolution


def test_switching_verification_on_holds_only_stays_confirmed_after(ny, committed):
    before = book(ny, committed, guest_name="Early Booker")
    ny.listing.requires_verification = True
    ny.listing.save()
    after = book(
        ny, committed, check_in=CHECK_IN + datetime.timedelta(days=5), guest_name="Late Booker"
    )
    assert not Reservation.objects.get(pk=before.pk).code_held
    assert Reservation.objects.get(pk=after.pk).code_held
    run_at(CHECK_IN - 23 * HOUR)
    assert values_on_fake(ny)["Garden Gate"] == [code_of(before)]
    # A property's rule applies to its listings that say nothing; a listing's own wins.
    ny.listing.requires_verification = None
    ny.listing.save()
    assert not ny.listing.verification_required
    ny.listing.property.requires_verification = True
    ny.listing.property.save()
    assert ny.listing.verification_required
    ny.listing.requires_verification = False
    assert not ny.listing.verification_required
    assert BOOKED_AT < CHECK_IN


def test_a_confirmed_stay_is_held_from_its_first_confirmation_not_when_pending(ny, committed):
    ny.listing.requires_verification = True
    ny.listing.save()
    pending = book(ny, committed, status=Reservation.Status.PENDING)
    assert not pending.code_held
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        services.reservation_confirm(reservation=pending)
    assert Reservation.objects.get(pk=pending.pk).code_held


def test_a_held_stay_cancelled_drops_the_email_that_waited_for_it(gated, committed):
    reservation = book(gated, committed)
    send_at(CHECK_IN - 47 * HOUR)
    assert scheduled(reservation).due_at is None  # waiting for the verification
    with time_machine.travel(CHECK_IN - 40 * HOUR, tick=False), committed():
        services.reservation_cancel(reservation=reservation)
    assert scheduled(reservation).state == GuestMessage.State.CANCELLED
    assert {a.state for a in reservation.lock_accesses.all()} == {State.REVOKED}
    assert gated.smtp.messages == []


def test_a_not_verified_alert_is_resolved_when_its_stay_is_cancelled(gated, committed, settings):
    settings.VERIFICATION_ALERT_HOURS = 24
    reservation = book(gated, committed)
    with time_machine.travel(CHECK_IN - 20 * HOUR, tick=False), committed():
        reservation_tasks.prearrival_checks()
        services.reservation_cancel(reservation=reservation)
    [alert] = DeviceAlert.objects.filter(kind=DeviceAlert.Kind.NOT_VERIFIED)
    assert alert.resolved_at is None  # until the hourly sweep of listing alerts
    with time_machine.travel(CHECK_IN - 19 * HOUR, tick=False):
        assert reservation_tasks.listing_alerts_expire() == 1
    alert.refresh_from_db()
    assert alert.resolution == "The stay is over or cancelled."
