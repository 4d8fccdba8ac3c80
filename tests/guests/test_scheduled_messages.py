"""The door-code email goes out at its planned instant, through a real SMTP server, with
each door's code and the property's local times; it follows new dates, tells a change
once, stops for a cancelled stay, and a failure is retried and raised, never dropped."""

import datetime

import pytest
import time_machine

from guests import services as guest_services
from guests.models import GuestMessage, MessageTemplate
from reservations import services
from reservations.models import Reservation
from tests.guests.conftest import (
    BOOKED_AT,
    CHECK_IN,
    SIDE_CODE,
    book,
    free_port,
    scheduled,
    send_at,
    side_door_own_code,
    text_of,
)

pytestmark = pytest.mark.django_db

State = GuestMessage.State
HOUR = datetime.timedelta(hours=1)
SECOND = datetime.timedelta(seconds=1)


def due_instant():
    """48 elapsed hours before Monday 15:00 EDT: Saturday 14:00 EST (clocks moved)."""
    return CHECK_IN - 48 * HOUR


def test_the_message_goes_out_at_its_instant_with_each_doors_code_and_local_times(
    ny, smtp, committed, code_template
):
    reservation = book(ny, committed)
    side_door_own_code(ny, committed, reservation)
    message = scheduled(reservation)
    assert message.state == State.PLANNED
    assert (
        message.due_at == due_instant() == datetime.datetime(2027, 3, 13, 19, tzinfo=datetime.UTC)
    )

    assert send_at(due_instant() - SECOND) == 0
    assert smtp.envelopes == []
    assert send_at(due_instant()) == 1

    [sent] = smtp.messages
    assert sent["To"] == "maria@example.com"
    assert sent["Subject"] == f"Your codes for {ny.listing.name}, Maria Silva"
    body = text_of(sent)
    stay_code = reservation.code.value
    assert "Check-in: Monday 15 March 2027, 15:00 EDT (America/New_York)" in body
    assert "Check-out: Thursday 18 March 2027, 11:00 EDT (America/New_York)" in body
    assert f"- Garden Gate: {stay_code}\n" in body
    assert f"- Side Door: {SIDE_CODE} (this door has its own code)" in body
    assert "Park in bay 4; the key box is by the gate." in body
    assert "Your page: https://keystay.example.com/g/" in body

    message.refresh_from_db()
    assert message.state == State.SENT and message.sent_at == due_instant()
    assert message.recipient == "maria@example.com"
    reservation.code.refresh_from_db()
    assert reservation.code.sent_at == due_instant()
    # Nothing more goes out later: it was sent once.
    assert send_at(due_instant() + 2 * HOUR) == 0
    assert len(smtp.envelopes) == 1


def test_new_dates_before_sending_move_the_message_and_it_tells_the_new_times_once(
    ny, smtp, committed, code_template
):
    reservation = book(ny, committed)
    later = CHECK_IN + datetime.timedelta(days=2)
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        services.reservation_update(
            reservation=reservation,
            check_in=later,
            check_out=later + datetime.timedelta(days=2),
        )
    assert scheduled(reservation).due_at == later - 48 * HOUR
    assert send_at(due_instant()) == 0  # the old instant passes without a message
    assert send_at(later - 48 * HOUR) == 1
    [body] = smtp.bodies()
    assert "Check-in: Wednesday 17 March 2027, 15:00 EDT" in body
    # The guest had not been told anything before: no change message follows.
    assert not GuestMessage.objects.filter(kind=MessageTemplate.Kind.CHANGED).exists()
    assert send_at(later) == 0


def test_a_change_after_the_guest_was_told_is_told_once(ny, smtp, committed, code_template):
    reservation = book(ny, committed)
    send_at(due_instant())
    changed_at = due_instant() + HOUR
    with time_machine.travel(changed_at, tick=False), committed():
        services.reservation_update(
            reservation=reservation, check_out=reservation.check_out + datetime.timedelta(days=1)
        )
    change = GuestMessage.objects.get(reservation=reservation, kind=MessageTemplate.Kind.CHANGED)
    assert change.state == State.PLANNED
    assert change.due_at == changed_at + guest_services.CHANGE_SETTLE
    assert send_at(change.due_at - SECOND) == 0
    assert send_at(change.due_at) == 1
    assert len(smtp.envelopes) == 2
    note = smtp.messages[1]
    assert note["Subject"] == f"Your stay at {ny.listing.name} has changed"
    text = text_of(note)
    assert (
        "- Check-out is now Friday 19 March 2027, 11:00 EDT (America/New_York) "
        "(was Thursday 18 March 2027, 11:00 EDT (America/New_York))." in text
    )
    assert "Check-in is now" not in text  # only what changed is listed as a change
    # Told once: later sweeps and a save that changes nothing send nothing more.
    with time_machine.travel(change.due_at + HOUR, tick=False), committed():
        services.reservation_save(reservation=Reservation.objects.get(pk=reservation.pk))
    assert send_at(change.due_at + 2 * HOUR) == 0
    assert len(smtp.envelopes) == 2


def test_a_rotated_code_is_told_with_the_new_code(ny, smtp, committed, code_template):
    reservation = book(ny, committed)
    send_at(due_instant())
    old = reservation.code.value
    with time_machine.travel(due_instant() + HOUR, tick=False), committed():
        new = services.code_rotate(reservation=reservation)
    assert send_at(due_instant() + HOUR + guest_services.CHANGE_SETTLE) == 1
    text = smtp.bodies()[1]
    assert f"- Garden Gate has a new code: {new}." in text
    assert old not in text


def test_a_change_undone_before_it_was_told_sends_nothing(ny, smtp, committed, code_template):
    reservation = book(ny, committed)
    send_at(due_instant())
    check_out = reservation.check_out
    for minutes, value in ((60, check_out + datetime.timedelta(days=1)), (62, check_out)):
        at = due_instant() + minutes * datetime.timedelta(minutes=1)
        with time_machine.travel(at, tick=False), committed():
            services.reservation_update(
                reservation=Reservation.objects.get(pk=reservation.pk), check_out=value
            )
    assert send_at(due_instant() + 3 * HOUR) == 0
    change = GuestMessage.objects.get(reservation=reservation, kind=MessageTemplate.Kind.CHANGED)
    assert change.state == State.SKIPPED
    assert "Changed back" in change.note
    assert len(smtp.envelopes) == 1


def test_a_cancelled_stay_gets_nothing(ny, smtp, committed, code_template):
    reservation = book(ny, committed)
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        services.reservation_cancel(reservation=reservation)
    message = scheduled(reservation)
    assert message.state == State.CANCELLED and "cancelled" in message.note
    assert send_at(due_instant()) == 0
    assert send_at(CHECK_IN) == 0
    assert smtp.envelopes == []


def test_a_stay_confirmed_after_the_send_instant_gets_it_at_once(
    ny, smtp, committed, code_template
):
    reservation = book(ny, committed, status=Reservation.Status.PENDING)
    assert not GuestMessage.objects.exists()
    confirmed_at = CHECK_IN - 5 * HOUR
    with time_machine.travel(confirmed_at, tick=False), committed():
        services.reservation_confirm(reservation=reservation)
    # No sweep ran: the confirmation itself enqueued the send.
    assert len(smtp.envelopes) == 1
    message = scheduled(reservation)
    assert message.state == State.SENT and message.sent_at == confirmed_at


def test_a_stay_confirmed_again_after_a_cancellation_is_planned_by_the_catch_up(
    ny, smtp, committed, code_template
):
    reservation = book(ny, committed)
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        services.reservation_cancel(reservation=reservation)
        services.reservation_confirm(reservation=Reservation.objects.get(pk=reservation.pk))
    with time_machine.travel(BOOKED_AT + 2 * HOUR, tick=False):
        assert guest_services.messages_plan_missed() == 1
        assert guest_services.messages_plan_missed() == 0
    assert send_at(due_instant()) == 1
    assert len(smtp.envelopes) == 1


def test_a_stay_without_an_email_gets_no_scheduled_email(ny, smtp, committed, code_template):
    reservation = book(ny, committed, guest_email="")
    assert send_at(due_instant()) == 1
    message = scheduled(reservation)
    assert message.state == State.NO_EMAIL
    assert "no email address" in message.note
    assert smtp.envelopes == []
    reservation.code.refresh_from_db()
    assert reservation.code.sent_at is None
    with time_machine.travel(due_instant() + HOUR, tick=False):
        assert guest_services.messages_plan_missed() == 0  # still no address: nothing

    # The PMS sends the guest's address later: the catch-up plans the email, due now.
    with time_machine.travel(due_instant() + 2 * HOUR, tick=False), committed():
        services.reservation_update(
            reservation=Reservation.objects.get(pk=reservation.pk),
            guest_email="maria@example.com",
        )
        assert guest_services.messages_plan_missed() == 1
    assert len(smtp.envelopes) == 1
    assert smtp.messages[0]["To"] == "maria@example.com"


def test_a_listing_template_wins_over_the_organizations(ny, smtp, committed, code_template):
    MessageTemplate.objects.create(
        organization=ny.listing.organization,
        listing=ny.listing,
        kind=MessageTemplate.Kind.CODE,
        send_hours_before=24,
        subject="Listing's own: {listing}",
        body="Doors:\n{doors}",
    )
    reservation = book(ny, committed)
    assert scheduled(reservation).due_at == CHECK_IN - 24 * HOUR
    assert send_at(due_instant()) == 0
    assert send_at(CHECK_IN - 24 * HOUR) == 1
    assert smtp.messages[0]["Subject"] == f"Listing's own: {ny.listing.name}"


def test_changing_the_template_moves_the_planned_messages(ny, smtp, committed, code_template):
    reservation = book(ny, committed)
    code_template.send_hours_before = 72
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        guest_services.template_save(template=code_template)
    assert scheduled(reservation).due_at == CHECK_IN - 72 * HOUR
    code_template.send_hours_before = None  # by hand only from now on
    with time_machine.travel(BOOKED_AT + 2 * HOUR, tick=False), committed():
        guest_services.template_save(template=code_template)
    assert scheduled(reservation).state == State.CANCELLED
    assert send_at(CHECK_IN) == 0


def test_a_template_change_replans_every_stay_a_chunk_per_task(
    ny, smtp, committed, code_template, monkeypatch
):
    """A large organization's re-plan is cut into tasks (each within the workers'
    timeout), each starting where the last stopped: every stay moves, none twice."""
    stays = [book(ny, committed, check_in=CHECK_IN + n * 4 * 24 * HOUR) for n in range(5)]
    monkeypatch.setattr(guest_services, "REPLAN_CHUNK", 2)
    code_template.send_hours_before = 72
    starts, planned = [], []
    real = guest_services.organization_replan

    def counted(**kwargs):
        starts.append(kwargs["after"])
        planned.append(real(**kwargs))
        return planned[-1]

    monkeypatch.setattr("guests.tasks.organization_replan", counted)
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        guest_services.template_save(template=code_template)
    # Three tasks, each enqueued by the one before, from the last stay of its chunk.
    assert starts == [None, (stays[1].check_in, stays[1].pk), (stays[3].check_in, stays[3].pk)]
    assert sorted(planned) == [1, 2, 2]
    for stay in stays:
        assert scheduled(stay).due_at == stay.check_in - 72 * HOUR
    assert GuestMessage.objects.filter(reservation__in=stays).count() == 5


# ------------------------------------------------------------------- failures


def test_a_refused_email_is_retried_with_backoff_then_sent(ny, smtp, committed, code_template):
    reservation = book(ny, committed)
    smtp.refuse = "554 Transaction failed: try later"
    assert send_at(due_instant()) == 1
    message = scheduled(reservation)
    assert message.state == State.RETRYING and message.attempts == 1
    assert "554" in message.last_error
    assert message.due_at == due_instant() + guest_services.RETRY_DELAYS[0]
    assert send_at(message.due_at - SECOND) == 0  # not before its backoff

    smtp.refuse = ""
    assert send_at(message.due_at) == 1
    message.refresh_from_db()
    assert message.state == State.SENT and message.attempts == 1
    assert len(smtp.envelopes) == 1


def test_an_email_server_down_is_retried_for_hours_then_raised(
    ny, smtp, committed, code_template, settings, client
):
    reservation = book(ny, committed)
    smtp_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nobody listens there
    at = due_instant()
    for attempt in range(1, guest_services.MAX_ATTEMPTS + 1):
        assert send_at(at) == 1
        message = scheduled(reservation)
        assert message.attempts == attempt
        if message.state == State.FAILED:
            break
        assert message.state == State.RETRYING
        at = message.due_at
    assert message.state == State.FAILED and message.due_at is None
    assert attempt == guest_services.MAX_ATTEMPTS
    assert at - due_instant() >= 4 * HOUR  # tried over hours, not seconds
    assert "ConnectionRefused" in message.last_error

    # Raised: on the reservation page and in the admin list of failing messages.
    client.force_login(ny.listing.organization.memberships.get(role="manager").user)
    page = client.get(f"/admin/reservations/reservation/{reservation.pk}/change/").content.decode()
    assert f"failed after {guest_services.MAX_ATTEMPTS} attempts" in page
    assert "Retry now" in page
    listing = client.get("/admin/guests/guestmessage/?outcome=failing").content.decode()
    assert "Maria Silva" in listing and "ConnectionRefused" in listing

    # The server is back: staff retry it at once and it goes out.
    settings.EMAIL_PORT = smtp_port
    with time_machine.travel(at + HOUR, tick=False), committed():
        client.force_login(ny.listing.organization.memberships.get(role="manager").user)
        response = client.post(f"/admin/guests/guestmessage/{message.pk}/retry/")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/reservations/reservation/{reservation.pk}/change/"
    message.refresh_from_db()
    assert message.state == State.SENT
    assert len(smtp.envelopes) == 1


def test_a_stay_whose_listing_has_no_guest_door_is_retried_not_sent(
    ny, smtp, committed, code_template
):
    ny.listing.assignments.update(guest_access=False)
    reservation = book(ny, committed)
    assert send_at(due_instant()) == 1
    message = scheduled(reservation)
    assert message.state == State.RETRYING
    assert "No door at this listing takes guest codes" in message.last_error
    assert smtp.envelopes == []


def test_codes_staff_already_emailed_are_not_emailed_again_after_a_copied_link(
    ny, smtp, committed, code_template, admin_user
):
    """Staff email the codes, then copy the guest link: the scheduled email finds the same
    codes and times already emailed to that address, and sends nothing."""
    reservation = book(ny, committed)
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        guest_services.message_send_now(reservation=reservation, by=admin_user)
    with time_machine.travel(BOOKED_AT + 2 * HOUR, tick=False), committed():
        guest_services.message_copy_link(reservation=reservation, by=admin_user)
    assert len(smtp.envelopes) == 1

    assert send_at(due_instant()) == 1
    assert len(smtp.envelopes) == 1
    message = scheduled(reservation)
    assert message.state == State.SKIPPED
    # When, in the property's time like the rest of the stay's rows (New York, EST).
    assert message.note == "Already emailed these codes and times (2027-03-01 08:00 EST)."


def test_new_codes_are_emailed_even_when_the_old_ones_were_emailed(
    ny, smtp, committed, code_template, admin_user
):
    reservation = book(ny, committed)
    with time_machine.travel(BOOKED_AT + HOUR, tick=False), committed():
        guest_services.message_send_now(reservation=reservation, by=admin_user)
    side_door_own_code(ny, committed, reservation, at=BOOKED_AT + 2 * HOUR)

    send_at(due_instant())
    assert any(SIDE_CODE in text_of(sent) for sent in smtp.messages)
