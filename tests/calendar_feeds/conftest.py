import datetime

import pytest
from django.utils import timezone

from calendar_feeds.services import feed_create

from .server import CalendarServer


@pytest.fixture
def calendars(settings):
    """The channels' server on loopback, which the tests' settings let Keystay call."""
    settings.KEYSTAY_OUTBOUND_ALLOW_HTTP = True
    settings.KEYSTAY_OUTBOUND_ALLOW_PRIVATE = True
    server = CalendarServer()
    yield server
    server.stop()


@pytest.fixture
def day(org_a):
    """day(n): the date n days from today where the property is."""
    today = timezone.localdate(timezone=org_a.property.zone)
    return lambda n: today + datetime.timedelta(days=n)


@pytest.fixture
def make_feed(calendars):
    def make(listing, channel, path, body, **fields):
        url = calendars.serve(path, body)
        return feed_create(listing=listing, channel=channel, url=url, **fields)

    return make
