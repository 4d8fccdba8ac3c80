"""Building the reservation admin page's requests in tests."""

from django.urls import reverse
from django.utils import timezone


def change_url(reservation):
    return reverse("admin:reservations_reservation_change", args=[reservation.pk])


def do_url(reservation, action):
    return reverse("admin:reservations_reservation_do", args=[reservation.pk, action])


def form_data(reservation, **changes):
    zone = reservation.listing.property.zone
    check_in = timezone.localtime(reservation.check_in, zone)
    check_out = timezone.localtime(reservation.check_out, zone)
    data = {
        "listing": reservation.listing.pk,
        "guest_name": reservation.guest_name,
        "guest_phone": reservation.guest_phone,
        "check_in_0": check_in.strftime("%Y-%m-%d"),
        "check_in_1": check_in.strftime("%H:%M"),
        "check_out_0": check_out.strftime("%Y-%m-%d"),
        "check_out_1": check_out.strftime("%H:%M"),
        "status": reservation.status,
        "lock_accesses-TOTAL_FORMS": "0",
        "lock_accesses-INITIAL_FORMS": str(reservation.lock_accesses.count()),
        "overrides-TOTAL_FORMS": "0",
        "overrides-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data
