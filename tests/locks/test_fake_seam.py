"""The fake Seam API and Keystay's SDK client, as the rest of the test suite relies on them.

No database: these tests exercise the Seam SDK client built by
``locks.seam_transport.make_seam_client`` against Seam's fake server.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from seam import Seam
from seam.exceptions import SeamHttpApiError, SeamHttpUnauthorizedError

from locks.seam_transport import as_post, make_seam_client
from tests.seam_fake import FakeSeam, start_fake_seam


def iso(moment: datetime) -> str:
    return moment.isoformat()


def codes_on(client: Seam, device_id: str) -> list:
    return client.access_codes.list(device_id=device_id)


def stay(days: int = 2) -> dict[str, str]:
    check_in = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
    return {"starts_at": iso(check_in), "ends_at": iso(check_in + timedelta(days=days))}


# --- seeded devices ---------------------------------------------------------------------------


def test_seeded_locks_carry_code_constraints_and_battery(seam_client: Seam, fake_seam: FakeSeam):
    roles = fake_seam.seed["devices"]
    locks = {lock.device_id: lock for lock in seam_client.locks.list()}

    assert set(roles.values()) <= set(locks)  # stock seed locks + Keystay's
    constrained = locks[roles["constrained"]]
    assert {"access_code", "lock"} <= set(constrained.capabilities_supported)
    assert constrained.can_program_online_access_codes is True
    assert constrained.properties.supported_code_lengths == [4, 5, 6]
    assert constrained.properties.max_active_codes_supported == 25
    assert {c.constraint_type for c in constrained.properties.code_constraints} >= {
        "cannot_start_with_12",
        "no_ascending_or_descending_sequence",
    }
    assert constrained.properties.battery_level == pytest.approx(0.82)

    low = locks[roles["low_battery"]]
    assert low.properties.supported_code_lengths == [6]
    assert "no_zeros" in {c.constraint_type for c in low.properties.code_constraints}
    assert low.properties.battery_level == pytest.approx(0.12)
    assert low.properties.battery.status == "low"


def test_offline_lock_reports_offline(seam_client: Seam, fake_seam: FakeSeam):
    device = seam_client.devices.get(device_id=fake_seam.seed["devices"]["offline"])

    assert device.properties.online is False
    assert [e.error_code for e in device.errors] == ["device_offline"]


def test_acs_entrances_list_under_their_system(seam_client: Seam, fake_seam: FakeSeam):
    system_id = fake_seam.seed["acs_system_id"]

    systems = {s.acs_system_id: s for s in seam_client.acs.systems.list()}
    entrances = seam_client.acs.entrances.list(acs_system_id=system_id)

    assert systems[system_id].external_type == "salto_site"
    assert {e.acs_entrance_id for e in entrances} == set(fake_seam.seed["acs_entrances"].values())
    assert all(e.acs_system_id == system_id for e in entrances)


# --- access codes through the transport -------------------------------------------------------


def test_access_code_create_update_delete(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["constrained"]
    window = stay()

    created = seam_client.access_codes.create(
        device_id=device_id, code="4829", name="Keystay R-1001", **window
    )
    assert [c.access_code_id for c in codes_on(seam_client, device_id)] == [created.access_code_id]
    assert created.type == "time_bound"
    assert datetime.fromisoformat(created.starts_at) == datetime.fromisoformat(window["starts_at"])

    # update is a PATCH in the SDK: only works against the fake if sent as POST.
    # (The fake turns a code "ongoing" unless starts_at/ends_at are sent again.)
    later = stay(days=3)
    seam_client.access_codes.update(
        access_code_id=created.access_code_id, name="Keystay R-1001 (ext)", **later
    )
    updated = seam_client.access_codes.get(access_code_id=created.access_code_id)
    assert updated.name == "Keystay R-1001 (ext)"
    assert datetime.fromisoformat(updated.ends_at) == datetime.fromisoformat(later["ends_at"])

    # delete is a DELETE with query parameters in the SDK.
    seam_client.access_codes.delete(access_code_id=created.access_code_id)
    assert codes_on(seam_client, device_id) == []


def test_transport_sends_writes_as_post_with_json_body():
    delete = httpx.Request(
        "DELETE",
        "https://connect.getseam.com/spaces/remove_devices?device_ids=d1&space_id=s1&_strict=true",
    )
    patch = httpx.Request(
        "PATCH", "https://connect.getseam.com/access_codes/update", json={"name": "n"}
    )
    get = httpx.Request("GET", "https://connect.getseam.com/devices/list?limit=5")

    rewritten = as_post(delete)
    assert (rewritten.method, str(rewritten.url)) == (
        "POST",
        "https://connect.getseam.com/spaces/remove_devices",
    )
    assert json.loads(rewritten.read()) == {"device_ids": ["d1"], "space_id": "s1"}
    assert as_post(patch).method == "POST"
    assert json.loads(as_post(patch).read()) == {"name": "n"}
    assert as_post(get) is get


# --- the control endpoint ---------------------------------------------------------------------


def test_code_set_on_device_shows_status_and_event(seam_client: Seam, fake_seam: FakeSeam):
    since = iso(datetime.now(UTC) - timedelta(seconds=1))
    code = seam_client.access_codes.create(
        device_id=fake_seam.seed["devices"]["front_door"], code="4829", name="R-1002"
    )

    fake_seam.control("/access_codes/set_state", access_code_id=code.access_code_id, status="set")

    assert seam_client.access_codes.get(access_code_id=code.access_code_id).status == "set"
    set_events = seam_client.events.list(since=since, event_type="access_code.set_on_device")
    assert [e.access_code_id for e in set_events] == [code.access_code_id]


def test_injected_error_is_visible_on_the_code(seam_client: Seam, fake_seam: FakeSeam):
    code = seam_client.access_codes.create(
        device_id=fake_seam.seed["devices"]["low_battery"], code="583947", name="R-1003"
    )

    fake_seam.control(
        "/access_codes/add_error",
        access_code_id=code.access_code_id,
        error_code="code_constraints_violated",
        message="Code does not meet the lock's constraints",
    )
    errors = seam_client.access_codes.get(access_code_id=code.access_code_id).errors
    assert [(e.error_code, e.is_access_code_error) for e in errors] == [
        ("code_constraints_violated", True)
    ]

    fake_seam.control("/access_codes/clear_errors", access_code_id=code.access_code_id)
    assert seam_client.access_codes.get(access_code_id=code.access_code_id).errors == []


def test_unlock_event_names_the_access_code(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["front_door"]
    since = iso(datetime.now(UTC) - timedelta(seconds=1))
    code = seam_client.access_codes.create(device_id=device_id, code="4829", name="R-1004")

    fake_seam.control(
        "/events/add",
        event_type="lock.unlocked",
        device_id=device_id,
        access_code_id=code.access_code_id,
        method="keycode",
    )

    (unlock,) = seam_client.events.list(since=since, event_type="lock.unlocked")
    assert (unlock.device_id, unlock.access_code_id) == (device_id, code.access_code_id)
    assert unlock.access_code_is_managed is True
    assert unlock.method == "keycode"


def test_device_going_offline_low_battery_and_removed(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["back_door"]

    fake_seam.control("/devices/update", device_id=device_id, online=False, battery_level=0.05)
    device = seam_client.devices.get(device_id=device_id)
    battery = device.properties.battery
    assert device.properties.online is False
    assert (battery.level, battery.status) == (0.05, "critical")

    fake_seam.control("/devices/remove", device_id=device_id)
    assert device_id not in {d.device_id for d in seam_client.devices.list()}


def test_outage_makes_create_fail_until_it_ends(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["front_door"]
    fake_seam.control("/outage", routes=["/access_codes/create"])

    # The fake answers a bare 503, which the SDK raises as httpx's own error.
    with pytest.raises(httpx.HTTPStatusError) as failure:
        seam_client.access_codes.create(device_id=device_id, code="4829", name="R-1005")
    assert failure.value.response.status_code == 503
    assert codes_on(seam_client, device_id) == []  # other routes still answer

    fake_seam.control("/outage", routes=[])
    seam_client.access_codes.create(device_id=device_id, code="4829", name="R-1005")
    assert len(codes_on(seam_client, device_id)) == 1


def test_a_code_list_for_one_lock_holds_that_locks_codes_only(
    seam_client: Seam, fake_seam: FakeSeam
):
    # As Seam does (the fake alone answers with every code of the workspace): a read-back
    # of one lock carries that lock's codes, not the workspace's.
    front, back = fake_seam.seed["devices"]["front_door"], fake_seam.seed["devices"]["back_door"]
    made = seam_client.access_codes.create(device_id=front, code="4829", name="R-1", **stay())
    seam_client.access_codes.create(device_id=back, code="5937", name="R-2", **stay())
    seam_client.access_codes.simulate.create_unmanaged_access_code(
        device_id=back, code="6148", name="Cleaner"
    )

    listed = seam_client.access_codes.list(device_id=front)
    assert [(c.access_code_id, c.code, c.name) for c in listed] == [
        (made.access_code_id, "4829", "R-1")
    ]
    assert [c.code for c in seam_client.access_codes.list(device_id=back)] == ["5937"]
    assert [c.code for c in seam_client.access_codes.unmanaged.list(device_id=back)] == ["6148"]
    assert seam_client.access_codes.unmanaged.list(device_id=front) == []


def test_a_code_list_still_needs_the_key_and_fails_in_an_outage(
    seam_client: Seam, fake_seam: FakeSeam
):
    device_id = fake_seam.seed["devices"]["front_door"]
    with pytest.raises(SeamHttpUnauthorizedError):
        make_seam_client(api_key="seam_bad", endpoint=fake_seam.url).access_codes.list(
            device_id=device_id
        )
    fake_seam.control("/outage", routes=["/access_codes/list"])
    with pytest.raises(httpx.HTTPStatusError) as failure:
        seam_client.access_codes.list(device_id=device_id)
    assert failure.value.response.status_code == 503
    fake_seam.control("/outage", routes=[])
    assert seam_client.access_codes.list(device_id=device_id) == []


def test_reset_restores_the_seeded_state(seam_client: Seam, fake_seam: FakeSeam):
    roles = fake_seam.seed["devices"]
    seam_client.access_codes.create(device_id=roles["front_door"], code="4829", name="R-1006")
    fake_seam.control("/devices/remove", device_id=roles["constrained"])
    fake_seam.control("/outage", routes=["/devices/list"])

    fake_seam.reset()

    assert codes_on(seam_client, roles["front_door"]) == []
    assert set(roles.values()) <= {d.device_id for d in seam_client.devices.list()}


def test_bad_api_key_is_unauthorized(fake_seam: FakeSeam):
    client = make_seam_client(api_key="seam_bad", endpoint=fake_seam.url)

    with pytest.raises(SeamHttpUnauthorizedError):
        client.devices.list()


def test_control_endpoint_answers_local_callers_only(fake_seam: FakeSeam):
    # A browser page on this machine could reach 127.0.0.1 through DNS rebinding:
    # the control endpoint refuses foreign Host headers and non-JSON posts.
    refused_host = httpx.post(
        f"{fake_seam.control_url}/reset", json={}, headers={"Host": "attacker.example"}
    )
    refused_form = httpx.post(f"{fake_seam.control_url}/reset", data={"a": "b"})
    assert (refused_host.status_code, refused_form.status_code) == (403, 415)

    # Neither server listens on the machine's other addresses.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent; picks the outbound address
        except OSError:
            pytest.skip("no non-loopback IPv4 address on this machine")
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no non-loopback IPv4 address on this machine")
    for url in (fake_seam.url, fake_seam.control_url):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url.replace("127.0.0.1", address), timeout=2)


# --- what happens at the lock, outside Seam ---------------------------------------------------


def events_of(client: Seam, event_type: str, since: str) -> list:
    return client.events.list(since=since, event_type=event_type)


def a_second_ago() -> str:
    return iso(datetime.now(UTC) - timedelta(seconds=1))


def test_a_code_deleted_in_the_locks_app_is_gone_with_an_event(
    seam_client: Seam, fake_seam: FakeSeam
):
    device_id = fake_seam.seed["devices"]["front_door"]
    since = a_second_ago()
    code = seam_client.access_codes.create(device_id=device_id, code="4829", name="R-2001")

    fake_seam.delete_external(code.access_code_id)

    assert codes_on(seam_client, device_id) == []
    (event,) = events_of(seam_client, "access_code.deleted_external_to_seam", since)
    assert (event.access_code_id, event.device_id) == (code.access_code_id, device_id)


def test_a_code_modified_in_the_locks_app_has_new_digits_a_warning_and_an_event(
    seam_client: Seam, fake_seam: FakeSeam
):
    device_id = fake_seam.seed["devices"]["front_door"]
    since = a_second_ago()
    code = seam_client.access_codes.create(device_id=device_id, code="4829", name="R-2002")

    fake_seam.modify_external(code.access_code_id, "7310")

    changed = seam_client.access_codes.get(access_code_id=code.access_code_id)
    assert changed.code == "7310"
    assert [w.warning_code for w in changed.warnings] == ["code_modified_external_to_seam"]
    (event,) = events_of(seam_client, "access_code.modified_external_to_seam", since)
    assert (event.access_code_id, event.device_id) == (code.access_code_id, device_id)


# --- provider-side limits and failures --------------------------------------------------------


def test_a_rate_limited_device_answers_429_with_retry_after_others_pass(
    seam_client: Seam, fake_seam: FakeSeam
):
    roles = fake_seam.seed["devices"]
    limited, other = roles["front_door"], roles["back_door"]
    code = seam_client.access_codes.create(device_id=limited, code="4829", name="R-2003")
    fake_seam.rate_limit(limited, times=3, retry_after=7)

    refused = []
    # By device_id (body, query) and through the code's id (update, get).
    for call in (
        lambda: seam_client.access_codes.create(device_id=limited, code="5930", name="R-2004"),
        lambda: seam_client.access_codes.list(device_id=limited),
        lambda: seam_client.access_codes.get(access_code_id=code.access_code_id),
    ):
        with pytest.raises(SeamHttpApiError) as failure:
            call()
        refused.append((failure.value.status_code, failure.value.code))
    assert refused == [(429, "rate_limit_exceeded")] * 3
    seam_client.access_codes.create(device_id=other, code="5930", name="R-2005")
    # Three times only: the device answers again.
    seam_client.access_codes.delete(access_code_id=code.access_code_id)


def test_the_rate_limit_header_and_clearing_it(fake_seam: FakeSeam, seam_client: Seam):
    device_id = fake_seam.seed["devices"]["front_door"]
    fake_seam.rate_limit(device_id, retry_after=42)  # until cleared
    headers = {"authorization": f"Bearer {fake_seam.api_key}"}
    url = f"{fake_seam.url}/access_codes/list"

    for _ in range(3):
        answer = httpx.get(url, params={"device_id": device_id}, headers=headers)
        assert (answer.status_code, answer.headers["retry-after"]) == (429, "42")
    assert answer.json()["error"]["type"] == "rate_limit_exceeded"

    fake_seam.rate_limit(device_id, times=0)
    assert httpx.get(url, params={"device_id": device_id}, headers=headers).status_code == 200


def test_a_listing_page_can_fail(seam_client: Seam, fake_seam: FakeSeam):
    fake_seam.fail_page("/devices/list", page=2)

    first = seam_client.devices.list(limit=3)
    cursor = first.pagination["next_page_cursor"]
    with pytest.raises(SeamHttpApiError) as failure:
        seam_client.devices.list(limit=3, page_cursor=cursor)
    assert failure.value.status_code == 503

    # Once (times=1): the same page answers on the next try, and so does the rest.
    second = seam_client.devices.list(limit=3, page_cursor=cursor)
    assert {d.device_id for d in second}.isdisjoint({d.device_id for d in first})


def test_added_locks_make_the_device_listing_span_pages(seam_client: Seam, fake_seam: FakeSeam):
    added = fake_seam.add_locks(5)
    paginator = seam_client.create_paginator(seam_client.devices.list, {"limit": 4})

    listed = [d.device_id for d in paginator.flatten()]

    assert set(added) <= set(listed) and len(listed) == len(set(listed)) == 13
    fake_seam.reset()
    assert set(added).isdisjoint(d.device_id for d in seam_client.devices.list())


def test_a_locks_name_length_cuts_a_codes_name(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["short_names"]
    limit = fake_seam.seed["short_name_length"]
    (constraint,) = seam_client.devices.get(device_id=device_id).properties.code_constraints
    assert (constraint.constraint_type, constraint.max_length) == ("name_length", limit)

    code = seam_client.access_codes.create(
        device_id=device_id, code="4829", name="KS12-3 Maria Silva", **stay()
    )
    assert code.name == "KS12-3 Maria Silva"[:limit]
    seam_client.access_codes.update(
        access_code_id=code.access_code_id, name="KS12-3 João Costa", **stay()
    )
    assert (
        seam_client.access_codes.get(access_code_id=code.access_code_id).name
        == ("KS12-3 João Costa"[:limit])
    )


def test_a_seeded_lock_supports_the_backup_code_pool(seam_client: Seam, fake_seam: FakeSeam):
    device = seam_client.devices.get(device_id=fake_seam.seed["backup_pool"])
    assert device.properties.supports_backup_access_code_pool is True


def test_reset_clears_rate_limits_and_page_failures(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["front_door"]
    fake_seam.rate_limit(device_id)
    fake_seam.fail_page("/devices/list", page=1)

    fake_seam.reset()

    assert seam_client.access_codes.list(device_id=device_id) == []
    assert seam_client.devices.list()


def test_requests_are_counted_per_route_until_cleared(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["front_door"]
    seam_client.access_codes.list(device_id=device_id)
    seam_client.access_codes.list(device_id=device_id)
    seam_client.access_codes.unmanaged.list(device_id=device_id)
    fake_seam.rate_limit(device_id, times=1)
    with pytest.raises(SeamHttpApiError):
        seam_client.access_codes.list(device_id=device_id)  # refused, still a request

    assert fake_seam.requests() == {
        "/access_codes/list": 3,
        "/access_codes/unmanaged/list": 1,
    }
    assert fake_seam.requests(clear=True)["/access_codes/list"] == 3
    assert fake_seam.requests() == {}
    seam_client.devices.list()
    fake_seam.reset()
    assert fake_seam.requests() == {}


# --- launcher options -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def confirming_fake() -> Iterator[FakeSeam]:
    fake = start_fake_seam(auto_confirm_ms=150)
    try:
        yield fake
    finally:
        fake.stop()


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_auto_confirm_sets_created_codes_and_reports_removals(confirming_fake: FakeSeam):
    client = make_seam_client(api_key=confirming_fake.api_key, endpoint=confirming_fake.url)
    device_id = confirming_fake.seed["devices"]["front_door"]
    since = a_second_ago()
    code = client.access_codes.create(device_id=device_id, code="4829", name="R-2006", **stay())
    assert code.status != "set"  # not at once: the lock takes its time

    assert wait_until(
        lambda: client.access_codes.get(access_code_id=code.access_code_id).status == "set"
    )
    assert [e.access_code_id for e in events_of(client, "access_code.set_on_device", since)] == [
        code.access_code_id
    ]

    client.access_codes.delete(access_code_id=code.access_code_id)
    assert wait_until(lambda: events_of(client, "access_code.removed_from_device", since))
    (removed,) = events_of(client, "access_code.removed_from_device", since)
    assert (removed.access_code_id, removed.device_id) == (code.access_code_id, device_id)


def test_reset_cancels_pending_confirmations(confirming_fake: FakeSeam):
    client = make_seam_client(api_key=confirming_fake.api_key, endpoint=confirming_fake.url)
    device_id = confirming_fake.seed["devices"]["front_door"]
    since = a_second_ago()
    code = client.access_codes.create(device_id=device_id, code="4829", name="R-2007")
    client.access_codes.delete(access_code_id=code.access_code_id)

    confirming_fake.reset()
    time.sleep(0.4)

    assert events_of(client, "access_code.removed_from_device", since) == []


def test_latency_delays_every_answer():
    fake = start_fake_seam(latency_ms=300)
    try:
        client = make_seam_client(api_key=fake.api_key, endpoint=fake.url)
        started = time.monotonic()
        client.devices.list()
        assert time.monotonic() - started >= 0.3
    finally:
        fake.stop()


def test_latency_changes_at_run_time_until_the_next_reset(seam_client: Seam, fake_seam: FakeSeam):
    fake_seam.set_latency(300)
    started = time.monotonic()
    seam_client.devices.list()
    assert time.monotonic() - started >= 0.3

    fake_seam.reset()
    started = time.monotonic()
    seam_client.devices.list()
    assert time.monotonic() - started < 0.3


def test_seams_write_limits_refuse_the_eleventh_create_on_a_device_in_a_minute(
    seam_client: Seam, fake_seam: FakeSeam
):
    roles = fake_seam.seed["devices"]
    busy, other = roles["front_door"], roles["back_door"]
    fake_seam.write_limits(True)
    codes = [
        seam_client.access_codes.create(device_id=busy, code=f"{4820 + n}", name=f"R-{n}")
        for n in range(10)
    ]

    with pytest.raises(SeamHttpApiError) as failure:
        seam_client.access_codes.create(device_id=busy, code="5931", name="R-11")
    assert failure.value.status_code == 429
    seam_client.access_codes.create(device_id=other, code="5931", name="R-11")  # its own
    # Deletes have a budget of their own (20), and reads none.
    seam_client.access_codes.delete(access_code_id=codes[0].access_code_id)
    seam_client.access_codes.list(device_id=busy)
    assert fake_seam.requests()["429 /access_codes/create"] == 1

    fake_seam.write_limits(True)  # as if the minute had passed
    seam_client.access_codes.create(device_id=busy, code="5931", name="R-11")
    fake_seam.reset()  # back to the launcher's setting: off
    for n in range(11):
        seam_client.access_codes.create(device_id=busy, code=f"{6820 + n}", name=f"S-{n}")


def test_the_write_limit_answer_says_when_a_slot_frees(fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["front_door"]
    fake_seam.reset()
    fake_seam.write_limits(True)
    headers = {"authorization": f"Bearer {fake_seam.api_key}"}
    url = f"{fake_seam.url}/access_codes/delete"
    started = time.monotonic()
    answers = [
        httpx.post(url, json={"access_code_id": "nope", "device_id": device_id}, headers=headers)
        for _ in range(21)
    ]
    took = time.monotonic() - started
    assert 429 not in {a.status_code for a in answers[:20]}
    assert answers[20].status_code == 429
    # A slot frees a minute after the first write, however long the 21 writes took (a
    # busy machine takes seconds).
    assert 59 - took <= int(answers[20].headers["retry-after"]) <= 60


def test_overlapping_requests_are_counted_per_device():
    import threading

    fake = start_fake_seam(latency_ms=300)
    try:
        client = make_seam_client(api_key=fake.api_key, endpoint=fake.url)
        roles = fake.seed["devices"]
        same, other = roles["front_door"], roles["back_door"]
        calls = [same, same, other]
        threads = [
            threading.Thread(target=client.access_codes.list, kwargs={"device_id": d})
            for d in calls
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        overall, per_device = fake.overlaps(clear=True)
        assert (overall, per_device) == (3, {same: 2, other: 1})
        assert fake.overlaps() == (0, {})
    finally:
        fake.stop()


def test_one_device_can_answer_slower_than_the_others(seam_client: Seam, fake_seam: FakeSeam):
    roles = fake_seam.seed["devices"]
    slow, other = roles["front_door"], roles["back_door"]
    fake_seam.slow_down(slow, 400)

    started = time.monotonic()
    seam_client.access_codes.list(device_id=other)
    assert time.monotonic() - started < 0.4
    seam_client.access_codes.list(device_id=slow)
    assert time.monotonic() - started >= 0.4


# --- unmanaged codes: Seam's delete route, which the fake lacks ------------------------------


def test_seams_unmanaged_delete_route_answers_as_seam_does(seam_client: Seam, fake_seam: FakeSeam):
    device_id = fake_seam.seed["devices"]["constrained"]  # a Yale lock: any lock takes one
    left = fake_seam.add_unmanaged(device_id, "740319", "Old PMS")
    managed = seam_client.access_codes.create(device_id=device_id, code="740320", name="Mine")
    unmanaged = {c.name for c in seam_client.access_codes.unmanaged.list(device_id=device_id)}
    assert unmanaged == {"Old PMS"}

    # A managed code is not an unmanaged one; a wrong key is refused; an outage is a 503.
    with pytest.raises(SeamHttpApiError) as refused:
        seam_client.access_codes.unmanaged.delete(access_code_id=managed.access_code_id)
    assert refused.value.code == "access_code_not_found"
    stranger = make_seam_client(api_key="seam_apikey9_wrong", endpoint=fake_seam.url)
    with pytest.raises((SeamHttpUnauthorizedError, SeamHttpApiError)):
        stranger.access_codes.unmanaged.delete(access_code_id=left["access_code_id"])
    stranger.client.close()
    fake_seam.control("/outage", routes=["/access_codes/unmanaged/delete"])
    try:
        with pytest.raises(httpx.HTTPStatusError):
            seam_client.access_codes.unmanaged.delete(access_code_id=left["access_code_id"])
    finally:
        fake_seam.control("/outage", routes=[])

    # A lock that keeps the code: Seam accepts, the code stays; then it goes, with its event.
    fake_seam.unmanaged_stuck(left["access_code_id"])
    seam_client.access_codes.unmanaged.delete(access_code_id=left["access_code_id"])
    assert seam_client.access_codes.unmanaged.list(device_id=device_id)
    fake_seam.unmanaged_stuck(left["access_code_id"], stuck=False)
    seam_client.access_codes.unmanaged.delete(access_code_id=left["access_code_id"])
    assert seam_client.access_codes.unmanaged.list(device_id=device_id) == []
    assert [c.access_code_id for c in codes_on(seam_client, device_id)] == [managed.access_code_id]
    events = [e["event_type"] for e in fake_seam.state()["events"] if e["device_id"] == device_id]
    assert events.count("access_code.unmanaged.removed") == 1
