"""The front desk: staff land on it, see each property's arrivals and departures in its
own zone, reveal and copy codes (recorded, with who), and find stays from one box."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from desk.models import CodeDisclosure
from guests.models import GuestMessage
from reservations import services
from reservations.models import LockAccess, ReservationCode

from .conftest import book

pytestmark = pytest.mark.django_db
DESK = "/admin/desk/"


def test_staff_land_on_the_front_desk_and_managers_on_the_home_page(org_a, client):
    org_a.staff.set_password("pw")
    org_a.staff.save()
    # As the sign-in form posts it: asking for the admin's home.
    response = client.post(
        "/admin/login/", {"username": org_a.staff.username, "password": "pw", "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("front_desk")
    client.logout()
    org_a.manager.set_password("pw")
    org_a.manager.save()
    response = client.post(
        "/admin/login/", {"username": org_a.manager.username, "password": "pw", "next": "/admin/"}
    )
    assert response["Location"] == reverse("admin:index")
    # Asked for a page in particular, staff get that page.
    client.logout()
    response = client.post(
        "/admin/login/?next=/admin/activity/",
        {"username": org_a.staff.username, "password": "pw", "next": "/admin/activity/"},
    )
    assert response["Location"] == "/admin/activity/"


def test_the_desk_lists_today_and_tomorrow_in_each_propertys_zone(org_a, staff_client):
    org_a.reservation.delete()
    today = book(org_a, guest_name="Ana Today")
    tomorrow = book(org_a, days_ahead=1, guest_name="Bruno Tomorrow")
    later = book(org_a, days_ahead=5, guest_name="Carla Later")
    html = staff_client.get(DESK).content.decode()
    zone = org_a.property.time_zone
    assert f"{org_a.property.name} <small" in html and zone in html
    arriving_today = html[html.find("Arriving today") : html.find("Leaving today")]
    assert f'id="stay-{today.pk}"' in arriving_today and "Bruno" not in arriving_today
    arriving_tomorrow = html[html.find("Arriving tomorrow") : html.find("Leaving tomorrow")]
    assert f'id="stay-{tomorrow.pk}"' in arriving_tomorrow
    assert f"stay-{later.pk}" not in html
    assert org_a.device.name in arriving_today and "Not arrived yet" in arriving_today
    # Masked: the digits are not on the page until revealed.
    assert today.code.value not in html and "••••••" in html


def test_each_stays_times_are_its_propertys_local_times(org_a, staff_client):
    # New York is never UTC's time: a card in UTC would say 20:00 (or 19:00) for 15:00.
    org_a.reservation.delete()
    org_a.property.time_zone = "America/New_York"
    org_a.property.save(update_fields=["time_zone"])
    org_a.listing.refresh_from_db()
    stay = book(org_a, days_ahead=1, guest_name="Ana Local")
    html = staff_client.get(DESK).content.decode()
    card = html[html.find(f'id="stay-{stay.pk}"') :]
    card = card[: card.find("</article>")]
    check_in = timezone.localtime(stay.check_in, org_a.property.zone)
    assert check_in.strftime("%H:%M") == "15:00"
    assert f"In {check_in:%Y-%m-%d} 15:00 {check_in.tzname()}" in card
    assert "UTC" not in card


def test_in_house_now_and_arrived(org_a, staff_client):
    org_a.reservation.delete()
    stay = book(org_a, days_ahead=-1, nights=3, guest_name="Dora Inside")
    type(stay).objects.filter(pk=stay.pk).update(arrived_at=timezone.now())
    html = staff_client.get(DESK).content.decode()
    inside = html[html.find("In house now") : html.find("Arriving tomorrow")]
    assert f'id="stay-{stay.pk}"' in inside and "Arrived" in inside


def test_failing_and_late_doors_are_on_top(org_a, staff_client):
    org_a.reservation.delete()
    stay = book(org_a, guest_name="Eva Failing")
    LockAccess.objects.filter(reservation=stay).update(
        state=LockAccess.State.FAILED, last_error="Lock offline", last_error_at=timezone.now()
    )
    late = book(org_a, days_ahead=1, guest_name="Filipe Late")
    LockAccess.objects.filter(reservation=late).update(
        state=LockAccess.State.PLANNED, due_at=timezone.now() - datetime.timedelta(hours=1)
    )
    html = staff_client.get(DESK).content.decode()
    top = html[html.find('id="desk-trouble"') : html.find("ks-desk-property")]
    assert "Failing door" in top and "Eva Failing" in top and "Lock offline" in top
    assert "Late code" in top and "Filipe Late" in top


def test_opening_the_desk_marks_nothing_sent(org_a, staff_client):
    stay = book(org_a)
    staff_client.get(DESK)
    assert ReservationCode.objects.get(reservation=stay).sent_at is None
    assert not CodeDisclosure.objects.exists()


def test_reveal_is_recorded_and_does_not_mark_the_code_sent(org_a, staff_client):
    stay = book(org_a)
    response = staff_client.post(reverse("desk_reveal", args=[stay.pk]))
    assert response.status_code == 200
    answer = response.json()
    assert answer["code"] == stay.code.value
    assert answer["doors"][0]["name"] == org_a.device.name
    record = CodeDisclosure.objects.get()
    assert (record.action, record.user, record.reservation) == ("reveal", org_a.staff, stay)
    assert ReservationCode.objects.get(reservation=stay).sent_at is None


def test_a_copy_is_recorded_and_marks_the_code_sent(org_a, staff_client):
    stay = book(org_a)
    response = staff_client.post(reverse("desk_copied", args=[stay.pk]))
    assert response.json() == {"marked_sent": True}
    assert CodeDisclosure.objects.get().action == "copy"
    assert ReservationCode.objects.get(reservation=stay).sent_at is not None


def test_a_copied_guest_link_is_recorded_once_copied(org_a, staff_client):
    stay = book(org_a)
    url = staff_client.post(reverse("desk_link", args=[stay.pk])).json()["url"]
    assert "/g/" in url
    assert CodeDisclosure.objects.get().action == "link"
    assert ReservationCode.objects.get(reservation=stay).sent_at is None
    staff_client.post(reverse("desk_link_copied", args=[stay.pk]))
    copied = GuestMessage.objects.get(channel=GuestMessage.Channel.COPY_LINK)
    assert copied.sent_by == org_a.staff
    assert ReservationCode.objects.get(reservation=stay).sent_at is not None


def test_email_now_from_the_desk(org_a, staff_client, mailoutbox):
    stay = book(org_a)
    response = staff_client.post(reverse("desk_email", args=[stay.pk]), {"next": DESK})
    assert response.status_code == 302 and response["Location"] == f"{DESK}#stay-{stay.pk}"
    assert mailoutbox[0].to == ["maria@example.com"]
    assert stay.code.value in mailoutbox[0].body
    html = staff_client.get(DESK).content.decode()
    assert "Resend" in html


def test_a_stranger_cannot_reveal_copy_or_email(org_a, org_b, client):
    stay = book(org_a)
    client.force_login(org_b.staff)
    for name in ("desk_reveal", "desk_copied", "desk_link", "desk_link_copied", "desk_email"):
        assert client.post(reverse(name, args=[stay.pk])).status_code == 404, name
    assert f"stay-{stay.pk}" not in client.get(DESK).content.decode()
    assert not CodeDisclosure.objects.exists()


def test_a_bad_door_number_is_a_400(org_a, staff_client):
    stay = book(org_a)
    response = staff_client.post(reverse("desk_copied", args=[stay.pk]), {"access": "x"})
    assert response.status_code == 400 and "access" in response.json()["error"]


# ------------------------------------------------------------------------ the search box


@pytest.mark.parametrize(
    "term",
    ["912 345", "+351912345678", "maria", "SILVA", "maria@example", "HX-77", "hx-77", "josé"],
)
def test_search_finds_a_stay_by_name_email_phone_or_booking(org_a, staff_client, term):
    stay = book(org_a, guest_name="Maria José Silva", external_id="HX-77")
    response = staff_client.get("/admin/desk/search/", {"q": term})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="stay-{stay.pk}"' in html[html.find('id="stay-matches"') :]


def test_search_words_must_all_match(org_a, staff_client):
    book(org_a, guest_name="Maria Silva")
    html = staff_client.get("/admin/desk/search/", {"q": "maria costa"}).content.decode()
    assert "No stay of your organizations matches" in html


def test_an_overlong_term_is_a_400(staff_client):
    response = staff_client.get("/admin/desk/search/", {"q": "x" * 201})
    assert response.status_code == 400 and "at most 200" in response.content.decode()


def test_the_search_box_is_on_every_admin_page(staff_client):
    for url in ("/admin/", "/admin/reservations/reservation/", "/admin/activity/", DESK):
        html = staff_client.get(url).content.decode()
        assert 'class="ks-search"' in html, url


def test_the_dashboard_and_the_desk_link_to_each_other(manager_client, staff_client):
    assert reverse("dashboard") in manager_client.get(DESK).content.decode()
    assert f'href="{DESK}"' in manager_client.get(reverse("dashboard")).content.decode()
    assert f'href="{DESK}"' in staff_client.get("/admin/").content.decode()


# ----------------------------------------------------------------------- at any size


def _more_stays(org, n, start=0):
    for i in range(n):
        book(
            org,
            days_ahead=(i % 3) - 1,
            guest_name=f"Guest {start + i}",
            guest_phone=f"+1555{start + i:07d}",
        )


def test_the_desk_and_search_take_the_same_queries_however_many_stays(
    org_a, client, django_assert_max_num_queries
):
    """Counted with a few stays, then asserted as the most with five times as many."""
    client.force_login(org_a.staff)
    _more_stays(org_a, 3)
    with CaptureQueriesContext(connection) as desk:
        assert client.get(DESK).status_code == 200
    with CaptureQueriesContext(connection) as search:
        client.get("/admin/desk/search/", {"q": "guest"})
    with CaptureQueriesContext(connection) as code_search:
        client.get("/admin/desk/search/", {"q": "123456"})
    _more_stays(org_a, 12, start=100)
    with django_assert_max_num_queries(len(desk)):
        html = client.get(DESK).content.decode()
    assert html.count('class="ks-stay') >= 12
    with django_assert_max_num_queries(len(search)):
        html = client.get("/admin/desk/search/", {"q": "guest"}).content.decode()
    assert html.count('class="ks-stay"') >= 15
    with django_assert_max_num_queries(len(code_search)):
        client.get("/admin/desk/search/", {"q": "123456"})


def test_the_search_follows_a_renamed_or_deleted_guest(org_a, staff_client):
    stay = book(org_a, guest_name="Maria Silva")
    stay.guest_name = "Joana Pereira"
    services.reservation_save(reservation=stay)
    search = "/admin/desk/search/"
    assert f'id="stay-{stay.pk}"' in staff_client.get(search, {"q": "pereira"}).content.decode()
    assert f'id="stay-{stay.pk}"' not in staff_client.get(search, {"q": "silva"}).content.decode()
    type(stay).objects.filter(pk=stay.pk).delete()
    assert (
        "No stay of your organizations"
        in staff_client.get(search, {"q": "pereira"}).content.decode()
    )
