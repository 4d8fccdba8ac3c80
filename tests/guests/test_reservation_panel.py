"""The reservation page's "Guest messages" panel: staff email the message now, copy its
text or the guest link; each delivery is recorded with who, how and when, and the page
says "Sent to guest". Refused with the reason for a stay without a code, and a 404 for
anyone outside the reservation's organization."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from guests.links import reservation_for_token
from guests.models import GuestMessage
from reservations.models import Reservation
from tests.guests.conftest import SIDE_CODE, book, side_door_own_code, text_of

pytestmark = pytest.mark.django_db

State = GuestMessage.State
Channel = GuestMessage.Channel


def page_of(client, reservation) -> str:
    url = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def action(name, reservation) -> str:
    return reverse(f"admin:guests_reservation_{name}", args=[reservation.pk])


def login(client, wired, role):
    user = wired.listing.organization.memberships.get(role=role).user
    client.force_login(user)
    return user


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_members_see_the_panel_with_its_buttons(ny, committed, client, role):
    reservation = book(ny, committed)
    login(client, ny, role)
    page = page_of(client, reservation)
    assert 'id="panel-guest-messages"' in page
    assert "<strong>Sent to guest:</strong>\n    not yet" in page
    for name in ("email", "copy_text", "copy_link"):
        assert f'formaction="{action(name, reservation)}"' in page
    assert "No door-code email is scheduled" in page  # no template with a send time


def test_staff_copy_the_text_and_it_is_recorded_as_sent(ny, committed, client, smtp):
    reservation = book(ny, committed)
    side_door_own_code(ny, committed, reservation)
    staff = login(client, ny, "staff")
    response = client.post(action("copy_text", reservation))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="copy-body"' in page and 'class="copy-button"' in page
    assert "guests/copy.js" in page
    assert f"- Garden Gate: {reservation.code.value}" in page
    assert f"- Side Door: {SIDE_CODE} (this door has its own code)" in page
    copied = GuestMessage.objects.get(reservation=reservation)
    assert (copied.channel, copied.state, copied.sent_by) == (Channel.COPY_TEXT, State.SENT, staff)
    reservation.code.refresh_from_db()
    assert reservation.code.sent_at == copied.sent_at
    assert "text copied by alpha-staff" in page_of(client, reservation)
    assert smtp.envelopes == []


def test_staff_copy_the_guest_link_and_it_is_recorded(ny, committed, client, smtp):
    reservation = book(ny, committed)
    login(client, ny, "staff")
    page = client.post(action("copy_link", reservation)).content.decode()
    assert 'value="https://keystay.example.com/g/' in page
    copied = GuestMessage.objects.get(reservation=reservation)
    assert copied.channel == Channel.COPY_LINK
    assert "guest link copied by alpha-staff" in page_of(client, reservation)


def test_a_manager_emails_the_message_now(ny, committed, client, smtp):
    reservation = book(ny, committed)
    login(client, ny, "manager")
    response = client.post(action("email", reservation))
    assert response["Location"] == reverse(
        "admin:reservations_reservation_change", args=[reservation.pk]
    )
    [sent] = smtp.messages
    assert sent["To"] == "maria@example.com"
    assert f"- Garden Gate: {reservation.code.value}" in text_of(sent)
    page = page_of(client, reservation)
    assert "emailed to maria@example.com (by alpha-manager)" in page
    assert "Emailed to maria@example.com." in page  # the admin's message after the redirect


def test_the_email_sent_now_links_the_guest_page_at_the_address_the_admin_is_on(
    ny, committed, client, smtp, settings
):
    """Without KEYSTAY_PUBLIC_URL, the email staff send now carries the same full link as
    the text they copy: the address of the admin they clicked in, never a bare path."""
    settings.KEYSTAY_PUBLIC_URL = ""
    reservation = book(ny, committed)
    login(client, ny, "staff")
    client.post(action("email", reservation))
    [sent] = smtp.messages
    emailed = re.search(r"with your codes: (\S+)\n", text_of(sent)).group(1)
    copied = client.post(action("copy_text", reservation)).content.decode()
    for link in (emailed, re.search(r"with your codes: (\S+)\n", copied).group(1)):
        assert link.startswith("http://testserver/g/")
        token = link.removeprefix("http://testserver/g/").removesuffix("/")
        assert reservation_for_token(token) == reservation


def test_an_email_refused_now_is_retried_and_shown(ny, committed, client, smtp):
    reservation = book(ny, committed)
    login(client, ny, "staff")
    smtp.refuse = "451 Try again later"
    client.post(action("email", reservation))
    message = GuestMessage.objects.get(reservation=reservation)
    assert message.state == State.RETRYING and "451" in message.last_error
    page = page_of(client, reservation)
    assert "Not sent yet" in page and "next try" in page


def test_a_stay_without_email_says_so_and_staff_can_still_copy(ny, committed, client, smtp):
    reservation = book(ny, committed, guest_email="")
    login(client, ny, "staff")
    page = page_of(client, reservation)
    assert "<strong>No guest email:</strong> no message is emailed to this guest." in page
    assert "disabled" in page.split(action("email", reservation))[1].split(">")[0]
    client.post(action("email", reservation))
    assert smtp.envelopes == [] and not GuestMessage.objects.exists()
    assert "no email address" in page_of(client, reservation)
    assert client.post(action("copy_text", reservation)).status_code == 200
    assert client.post(action("copy_link", reservation)).status_code == 200
    assert GuestMessage.objects.filter(state=State.SENT).count() == 2


@pytest.mark.parametrize("status", [Reservation.Status.PENDING, Reservation.Status.CANCELLED])
def test_a_stay_without_a_code_is_refused_on_every_surface_with_the_reason(
    ny, committed, client, smtp, status
):
    reservation = book(ny, committed, status=status)
    login(client, ny, "manager")
    page = page_of(client, reservation)
    assert "Nothing can be sent to the guest:" in page
    assert action("email", reservation) not in page  # no buttons
    reason = "not confirmed" if status == Reservation.Status.PENDING else "cancelled"
    for name in ("email", "copy_text", "copy_link"):
        response = client.post(action(name, reservation), follow=True)
        assert reason in response.content.decode()
    assert smtp.envelopes == [] and not GuestMessage.objects.exists()


def test_another_organizations_member_gets_404_and_the_buttons_want_a_post(
    ny, committed, client, org_b, smtp
):
    reservation = book(ny, committed)
    client.force_login(org_b.manager)
    for name in ("email", "copy_text", "copy_link"):
        assert client.post(action(name, reservation)).status_code == 404
    message = GuestMessage.objects.create(
        organization=reservation.organization,
        reservation=reservation,
        kind="code",
        trigger=GuestMessage.Trigger.STAFF,
        state=State.FAILED,
    )
    retry = reverse("admin:guests_guestmessage_retry", args=[message.pk])
    assert client.post(retry).status_code == 404
    assert smtp.envelopes == []
    login(client, ny, "staff")
    assert client.get(action("copy_text", reservation)).status_code == 405
    assert GuestMessage.objects.count() == 1


def test_the_buttons_need_the_pages_csrf_token(ny, committed, smtp):
    reservation = book(ny, committed)
    browser = Client(enforce_csrf_checks=True)
    login(browser, ny, "staff")
    assert browser.post(action("copy_text", reservation)).status_code == 403
    token = (
        browser.get(reverse("admin:reservations_reservation_change", args=[reservation.pk]))
        .cookies["csrftoken"]
        .value
    )
    response = browser.post(action("copy_text", reservation), {"csrfmiddlewaretoken": token})
    assert response.status_code == 200


def test_a_code_marked_sent_by_hand_shows_as_sent(ny, committed, client):
    reservation = book(ny, committed)
    login(client, ny, "staff")
    client.post(reverse("admin:reservations_reservation_do", args=[reservation.pk, "mark-sent"]))
    assert "— marked as sent by hand" in page_of(client, reservation)


@pytest.mark.parametrize("role", ["manager", "staff"])
def test_members_replace_the_guest_link_from_the_panel(ny, committed, client, smtp, role):
    """A link given to the wrong person is replaced from the reservation page: a button
    behind a disclosure that says what it does, posted through the page's actions form."""
    reservation = book(ny, committed)
    login(client, ny, role)
    replace = reverse("guest_link_regenerate", args=[reservation.pk])
    assert replace not in page_of(client, reservation)  # no link given out yet
    copied = client.post(action("copy_link", reservation)).content.decode()
    old = re.search(r'value="https://keystay\.example\.com(/g/[^"]+)"', copied).group(1)
    page = page_of(client, reservation)
    assert 'form="reservation-panel-actions"' in page.split(replace)[0].rsplit("<button", 1)[1]
    assert "the link sent before stops working" in page
    response = client.post(replace, follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "admin:reservations_reservation_change", args=[reservation.pk]
    )
    assert "The guest link was replaced" in response.content.decode()
    assert reservation_for_token(old.removeprefix("/g/").removesuffix("/")) is None
