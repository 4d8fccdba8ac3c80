"""The demo's dead ends, when `make run` talks to Seam's fake server: a provider sign-in
finishes through the fake itself (it has no sign-in page), and an entrance says plainly
that the fake cannot take its codes instead of failing every few minutes. A server that is
not the demo's fake keeps every failure as it is."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from locks import endpoints
from locks.models import ConnectWebview, Device, LockAssignment
from locks.services import (
    connect_webview_complete_on_fake,
    connect_webview_start,
    connect_webviews_refresh,
)
from reservations.models import DeviceAlert, LockAccess
from tests.config.test_settings import PRODUCTION, manage
from tests.fixtures_lifecycle import run_at

from .test_smart_devices_page import action_url, messages_of, page_text

pytestmark = pytest.mark.django_db

ENTRANCE = "Building Front Entrance"


@pytest.fixture
def demo(settings, fake_seam):
    """`make run`'s environment: the fake's address exported as SEAM_FAKE_ENDPOINT."""
    settings.SEAM_FAKE_ENDPOINT = fake_seam.url
    return fake_seam


def test_only_the_fake_that_make_run_names_is_the_demos(settings):
    settings.SEAM_FAKE_ENDPOINT = ""
    assert not endpoints.is_demo_fake("http://127.0.0.1:8787")
    settings.SEAM_FAKE_ENDPOINT = "http://127.0.0.1:8787"
    assert endpoints.is_demo_fake("http://127.0.0.1:8787/")
    assert endpoints.is_demo_fake("http://localhost:8787") is False  # another name
    assert not endpoints.is_demo_fake("http://127.0.0.1:8788")
    assert not endpoints.is_demo_fake("")  # Seam's own API
    assert not endpoints.is_demo_fake("https://connect.getseam.com")


def test_production_settings_never_name_a_fake():
    """Even with the variable set, production settings take no fake server."""
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(repr(settings.SEAM_FAKE_ENDPOINT))",
        **PRODUCTION,
        SEAM_FAKE_ENDPOINT="http://127.0.0.1:8787",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "''"


# ------------------------------------------------------------------ provider sign-in


def test_in_the_demo_connecting_a_provider_finishes_through_the_fake(
    demo, manager_client, wired, django_capture_on_commit_callbacks
):
    seam_connection = wired.connection
    form = manager_client.get(action_url("connect", seam_connection)).content.decode()
    assert 'id="demo-fake-note"' in form
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            action_url("connect", seam_connection), {"pin_lock_providers": ["august"]}, follow=True
        )
    # Back on the Smart Devices page, not at the fake's webview URL (a browser error page).
    assert response.redirect_chain[0][0] == action_url("return", seam_connection)
    assert response.request["PATH_INFO"] == reverse("smart_devices:list")
    webview = ConnectWebview.objects.get(connection=seam_connection)
    assert webview.status == "authorized" and webview.provider_account_id
    said = messages_of(response)
    assert any(m.startswith("Demo: Seam's fake server has no provider sign-in page") for m in said)
    account = seam_connection.accounts.get(provider_account_id=webview.provider_account_id)
    assert any(m.startswith(f"Linked {account.user_identifier}") for m in said)
    # The account's lock was imported: the fake adds a "Front Door" with it.
    assert seam_connection.devices.filter(name="Front Door").exists()


def test_outside_the_demo_the_manager_is_sent_to_the_providers_sign_in(
    settings, manager_client, wired
):
    seam_connection = wired.connection
    settings.SEAM_FAKE_ENDPOINT = ""  # the same server, not started by `make run`
    form = manager_client.get(action_url("connect", seam_connection)).content.decode()
    assert 'id="demo-fake-note"' not in form
    response = manager_client.post(
        action_url("connect", seam_connection), {"pin_lock_providers": ["august"]}
    )
    webview = ConnectWebview.objects.get(connection=seam_connection)
    assert response.status_code == 302 and response["Location"] == webview.url
    assert webview.status == "pending"
    with pytest.raises(ValueError):
        connect_webview_complete_on_fake(webview=webview)


def test_the_fake_finishing_the_link_is_a_service_of_its_own(demo, wired):
    seam_connection = wired.connection
    webview = connect_webview_start(
        connection=seam_connection, providers=["august"], redirect_url="http://testserver/"
    )
    connect_webview_complete_on_fake(webview=webview)
    (refreshed,) = connect_webviews_refresh(connection=seam_connection)
    assert refreshed.status == "authorized"


# ------------------------------------------------------------------ entrance codes


def _entrance_with_guest_access(wired) -> Device:
    entrance = Device.objects.get(connection=wired.connection, name=ENTRANCE)
    LockAssignment.objects.create(listing=wired.listing, device=entrance, guest_access=True)
    return entrance


def test_in_the_demo_an_entrance_says_it_takes_no_codes_and_nothing_fails(
    demo, wired, manager_client
):
    entrance = _entrance_with_guest_access(wired)
    stay = wired.book(days_ahead=0)
    now = timezone.now()
    for minutes in range(0, 30, 5):  # the lifecycle, then the retries it would make
        run_at(now + datetime.timedelta(minutes=minutes))
    # The code is on the listing's PIN locks; the entrance has none, and nothing failed.
    assert {a.device.name for a in stay.lock_accesses.all()} == {"Garden Gate", "Side Door"}
    assert not LockAccess.objects.filter(state=LockAccess.State.FAILED).exists()
    assert not DeviceAlert.objects.filter(device=entrance).exists()
    # The entrance says so, where managers look at it.
    assert "This provider&#x27;s demo server cannot take entrance codes" in page_text(
        manager_client
    )
    devices = manager_client.get(reverse("admin:locks_device_changelist")).content.decode()
    assert "This provider&#x27;s demo server cannot take entrance codes" in devices
    drawing = manager_client.get(reverse("listing_timeline", args=[wired.listing.pk]))
    assert "takes no codes here" in drawing.content.decode()


def test_outside_the_demo_an_entrance_the_server_refuses_fails_visibly(
    settings, wired, manager_client
):
    settings.SEAM_FAKE_ENDPOINT = ""  # not the demo: a refusal is a real failure
    entrance = _entrance_with_guest_access(wired)
    stay = wired.book(days_ahead=0)
    run_at(timezone.now())
    access = LockAccess.objects.get(reservation=stay, device=entrance)
    assert access.state == LockAccess.State.FAILED
    assert "does not support /acs/credentials/create" in access.last_error
    assert "cannot take entrance codes" not in page_text(manager_client)
