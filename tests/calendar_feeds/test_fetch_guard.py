"""Feeds are fetched through the outbound guard: GET with a streamed size cap of the
caller's choosing, and redirects followed a few hops, each hop checked again."""

from __future__ import annotations

import pytest

from core import outbound


def test_get_reads_the_calendar_and_its_validators(calendars):
    url = calendars.serve("/cal.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    answer = outbound.get(url, max_bytes=1000)
    assert answer.status_code == 200
    assert answer.body.startswith(b"BEGIN:VCALENDAR")
    assert answer.headers["etag"].startswith('"')
    assert answer.headers["content-type"].startswith("text/calendar")


def test_get_stops_reading_at_the_callers_cap(calendars):
    url = calendars.serve("/big.ics", b"x" * 200_000)
    answer = outbound.get(url, max_bytes=100_000)
    assert answer.truncated
    assert len(answer.body) == 100_000


def test_get_follows_a_redirect_to_an_allowed_address(calendars):
    target = calendars.serve("/new.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    start = calendars.serve("/old.ics", b"", status=302, Location=target)
    answer = outbound.get(start, max_bytes=1000)
    assert answer.status_code == 200
    assert answer.url.endswith("/new.ics")


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://0.0.0.0/"],
)
def test_a_redirect_to_a_link_local_or_metadata_address_is_refused(calendars, location):
    start = calendars.serve("/cal.ics", b"", status=302, Location=location)
    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.get(start, max_bytes=1000)
    assert refused.value.code == "private_address"


def test_redirects_are_followed_a_few_hops_only(calendars):
    for n in range(6):
        calendars.serve(f"/hop{n}", b"", status=302, Location=f"/hop{n + 1}")
    with pytest.raises(outbound.OutboundRefused) as refused:
        outbound.get(calendars.url + "/hop0", max_bytes=1000)
    assert refused.value.code == "redirect"
    assert len(calendars.requests) == outbound.MAX_REDIRECTS + 1
