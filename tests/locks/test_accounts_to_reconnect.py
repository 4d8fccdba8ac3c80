"""Provider accounts that Seam says need their owner to sign in again are raised on the
Smart Devices page and on the dashboard, with a way to reconnect through a Connect
Webview; accounts and locks are labelled by their brand, not Seam's placeholders."""

import re

import pytest
from django.urls import reverse

from locks.models import ConnectedAccount
from locks.services import devices_sync

pytestmark = pytest.mark.django_db

SMART_DEVICES = "/admin/smart-devices/"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_account_to_reauthorize_is_raised_with_a_reconnect(wired, manager_client, org_b):
    wired.fake.control(
        "/connected_accounts/errors",
        connected_account_id="john_connected_account_id",
        error_codes=["account_reauthorization_requested"],
    )
    devices_sync(connection=wired.connection)
    account = ConnectedAccount.objects.get(provider_account_id="john_connected_account_id")
    assert account.needs_reconnect and account.label == "August · john@example.com"

    reconnect = reverse("smart_devices:connect", args=[wired.connection.pk]) + "?provider=august"
    for url in (SMART_DEVICES, reverse("dashboard")):
        page = manager_client.get(url).content.decode()
        box = _text(page.split('id="reconnect-accounts"', 1)[1].split("</ul>", 1)[0])
        assert "Provider accounts to reconnect (1)" in box
        assert "August · john@example.com" in box
        assert f'href="{reconnect}"' in page

    # The reconnect page comes with the account's provider ticked.
    form = manager_client.get(reconnect).content.decode()
    assert re.search(r'value="august"[^>]*checked', form)

    # Another organization's manager sees nothing of it.
    manager_client.force_login(org_b.manager)
    assert "reconnect-accounts" not in manager_client.get(reverse("dashboard")).content.decode()


def test_a_disconnected_account_is_raised_and_clears_once_reconnected(wired, manager_client):
    wired.fake.control(
        "/connected_accounts/errors",
        connected_account_id="john_connected_account_id",
        error_codes=["account_disconnected"],
    )
    devices_sync(connection=wired.connection)
    assert "reconnect-accounts" in manager_client.get(SMART_DEVICES).content.decode()
    wired.fake.control(
        "/connected_accounts/errors",
        connected_account_id="john_connected_account_id",
        error_codes=[],
    )
    devices_sync(connection=wired.connection)
    assert "reconnect-accounts" not in manager_client.get(reverse("dashboard")).content.decode()


def test_accounts_and_locks_show_their_brand(wired, manager_client):
    page = _text(manager_client.get(SMART_DEVICES).content.decode())
    assert "August · john@example.com" in page
    assert "Unknown" not in page
    assert "Generic" not in page
    assert ConnectedAccount.objects.filter(display_name="August").exists()
    # A lock whose model Seam does not know shows its brand alone.
    assert "Generic · Device" not in page
