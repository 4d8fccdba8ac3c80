import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from reservations import services
from reservations.models import Reservation


def book(org, *, days_ahead=0, nights=2, **fields):
    """A confirmed stay at the org's listing through the service (code and lock rows
    planned as in production), checking in `days_ahead` local days from today."""
    listing = org.listing
    today = timezone.localdate(timezone=listing.property.zone)
    fields.setdefault("guest_name", "Maria Silva")
    fields.setdefault("guest_phone", "+351 912 345 678")
    fields.setdefault("guest_email", "maria@example.com")
    return services.reservation_create(
        listing=listing,
        check_in=listing.local_check_in(today + datetime.timedelta(days=days_ahead)),
        check_out=listing.local_check_out(today + datetime.timedelta(days=days_ahead + nights)),
        status=Reservation.Status.CONFIRMED,
        **fields,
    )


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()
