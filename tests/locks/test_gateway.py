"""Keystay's gateway to Seam (locks/gateway.py) against Seam's fake server: rate limits,
whole listings and what a lock's codes look like at the provider."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import pytest

from locks import gateway as gateway_module
from locks.gateway import ProviderError, SeamGateway
from locks.models import Device, LockProviderConnection
from locks.seam_transport import parse_retry_after
from locks.services import connection_create, devices_sync
from tests.seam_fake import FakeSeam

START = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(hours=3)
END = START + datetime.timedelta(days=2)


@pytest.fixture
def gateway(fake_seam: FakeSeam) -> Iterator[SeamGateway]:
    fake_seam.reset()
    with SeamGateway(api_key=fake_seam.api_key, endpoint=fake_seam.url) as gateway:
        yield gateway


@pytest.fixture
def small_pages(monkeypatch) -> int:
    """Keystay reads listings 3 items a page, so the seeded workspace spans pages."""
    monkeypatch.setattr(gateway_module, "LIST_PAGE_SIZE", 3)
    return 3


def create(gateway: SeamGateway, device_id: str, code: str, name: str = "KS1-1 Guest"):
    return gateway.create_access_code(
        device_id=device_id, code=code, name=name, starts_at=START, ends_at=END
    )


# --- rate limits: refused at once, never waited out inside the call ---------------------------


@pytest.mark.parametrize("call", ["create", "get", "list", "delete"])
def test_a_rate_limit_is_a_provider_error_with_retry_after_and_no_wait(
    gateway: SeamGateway, fake_seam: FakeSeam, call: str
):
    device_id = fake_seam.seed["devices"]["front_door"]
    code = create(gateway, device_id, "4829")
    # Seam may ask for minutes; a retry inside the call would hold the worker that long.
    fake_seam.rate_limit(device_id, times=5, retry_after=120)
    calls = {
        "create": lambda: create(gateway, device_id, "5930"),
        "get": lambda: gateway.get_access_code(code.provider_id),
        "list": lambda: gateway.list_device_codes(device_id=device_id),
        "delete": lambda: gateway.delete_access_code(provider_id=code.provider_id),
    }

    started = time.monotonic()
    with pytest.raises(ProviderError) as failure:
        calls[call]()

    assert time.monotonic() - started < 1.0
    error = failure.value
    assert (error.kind, error.status, error.retry_after) == ("rate_limited", 429, 120.0)
    assert error.retryable and not error.refused
    assert "120 s" in error.message


def test_other_locks_are_not_held_up_by_a_rate_limited_one(
    gateway: SeamGateway, fake_seam: FakeSeam
):
    roles = fake_seam.seed["devices"]
    fake_seam.rate_limit(roles["front_door"], retry_after=60)

    created = create(gateway, roles["back_door"], "4829")

    assert [c.provider_id for c in gateway.list_device_codes(device_id=roles["back_door"])] == [
        created.provider_id
    ]


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


# --- duplicates -------------------------------------------------------------------------------


def test_a_code_the_lock_already_holds_is_a_duplicate_not_retried(
    gateway: SeamGateway, fake_seam: FakeSeam
):
    device_id = fake_seam.seed["devices"]["front_door"]
    create(gateway, device_id, "4829", name="Made elsewhere")

    with pytest.raises(ProviderError) as failure:
        create(gateway, device_id, "4829")

    error = failure.value
    assert (error.kind, error.code, error.status) == ("duplicate", "duplicate_access_code", 409)
    assert error.refused and not error.retryable


# --- a lock's codes at the provider ------------------------------------------------------------


def test_list_device_codes_reads_status_errors_and_warnings_of_that_device_only(
    gateway: SeamGateway, fake_seam: FakeSeam
):
    roles = fake_seam.seed["devices"]
    device_id = roles["constrained"]
    confirmed = create(gateway, device_id, "4829", name="KS1-1 Maria")
    refused = create(gateway, device_id, "5930", name="KS2-1 João")
    changed = create(gateway, device_id, "6041", name="KS3-1 Ana")
    create(gateway, roles["front_door"], "4829")  # another lock's: not listed
    fake_seam.control(
        "/access_codes/set_state", access_code_id=confirmed.provider_id, status="set"
    )
    fake_seam.control(
        "/access_codes/add_error",
        access_code_id=refused.provider_id,
        error_code="failed_to_set_on_device",
    )
    fake_seam.modify_external(changed.provider_id, "7152")

    codes = {c.provider_id: c for c in gateway.list_device_codes(device_id=device_id)}

    assert set(codes) == {confirmed.provider_id, refused.provider_id, changed.provider_id}
    assert codes[confirmed.provider_id].status == "set"
    assert codes[confirmed.provider_id].errors == ()
    assert codes[refused.provider_id].errors == ("failed_to_set_on_device",)
    assert codes[changed.provider_id].code == "7152"
    assert codes[changed.provider_id].warnings == ("code_modified_external_to_seam",)
    for code in codes.values():
        assert code.device_id == device_id and code.is_managed
        assert code.is_external_modification_allowed is False
        assert (code.starts_at, code.ends_at) == (START, END)
    assert codes[confirmed.provider_id].name == "KS1-1 Maria"


def test_a_code_deleted_in_the_locks_app_is_no_longer_listed(
    gateway: SeamGateway, fake_seam: FakeSeam
):
    device_id = fake_seam.seed["devices"]["front_door"]
    kept = create(gateway, device_id, "4829", name="KS1-1 Maria")
    gone = create(gateway, device_id, "5930", name="KS1-2 Maria")

    fake_seam.delete_external(gone.provider_id)

    assert [c.provider_id for c in gateway.list_device_codes(device_id=device_id)] == [
        kept.provider_id
    ]
    assert [
        c.provider_id for c in gateway.find_access_codes(device_id=device_id, name_prefix="KS1-")
    ] == [kept.provider_id]


def test_a_short_name_length_keeps_the_name_prefix_findable(
    gateway: SeamGateway, fake_seam: FakeSeam
):
    device_id = fake_seam.seed["short_names"]
    created = create(gateway, device_id, "4829", name="KS12-3 Maria Silva")

    (found,) = gateway.find_access_codes(device_id=device_id, name_prefix="KS12-3 ")

    assert found.provider_id == created.provider_id
    assert found.name == "KS12-3 Maria Silva"[: fake_seam.seed["short_name_length"]]


# --- listings are read whole, or not at all ---------------------------------------------------


def test_every_page_of_locks_and_accounts_is_read(
    gateway: SeamGateway, fake_seam: FakeSeam, small_pages: int
):
    added = fake_seam.add_locks(4)

    locks = {d.provider_device_id for d in gateway.list_lock_devices()}

    # 6 seeded locks and 4 added, over 4 pages of 3 devices (thermostat, sensor included)
    assert locks == set(fake_seam.seed["devices"].values()) | set(added)
    accounts = gateway.list_connected_accounts()
    assert fake_seam.seed["connected_account_id"] in {a.provider_account_id for a in accounts}
    entrances = {d.provider_device_id for d in gateway.list_acs_entrances()}
    assert entrances == set(fake_seam.seed["acs_entrances"].values())


@pytest.mark.parametrize("route", ["/devices/list", "/connected_accounts/list"])
def test_a_listing_failing_half_way_raises(
    gateway: SeamGateway, fake_seam: FakeSeam, small_pages: int, route: str
):
    fake_seam.add_locks(4)
    fake_seam.fail_page(route, page=1 if route == "/connected_accounts/list" else 3)
    listing = {
        "/devices/list": gateway.list_lock_devices,
        "/connected_accounts/list": gateway.list_connected_accounts,
    }[route]

    with pytest.raises(ProviderError) as failure:
        listing()

    assert failure.value.kind == "unavailable"


@pytest.mark.django_db
def test_an_import_failing_half_way_marks_no_device_removed(
    fake_seam: FakeSeam, org_a, small_pages: int
):
    fake_seam.reset()
    connection = connection_create(
        organization=org_a.organization,
        name="Seam",
        api_key=fake_seam.api_key,
        endpoint=fake_seam.url,
    )
    devices_sync(connection=connection)
    imported = connection.devices.count()
    fake_seam.fail_page("/devices/list", page=2)

    with pytest.raises(ProviderError):
        devices_sync(connection=connection)

    assert connection.devices.count() == imported
    assert not Device.objects.filter(connection=connection, removed_at__isnull=False).exists()
    connection.refresh_from_db()
    assert connection.sync_state == LockProviderConnection.SyncState.FAILED
    # The page answers again: the next import reads everything, still nothing removed.
    result = devices_sync(connection=connection)
    assert result.removed == [] and not result.changed
