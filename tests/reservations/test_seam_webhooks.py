"""Seam's webhook: signed deliveries recorded exactly once, anything else refused unchanged.

The fake stores webhooks but never delivers them, and its secrets are not Svix secrets:
these tests sign their own payloads with svix, as Seam's Svix would.
"""

import base64
import datetime
import json
import secrets
import threading

import pytest
from django.db import connection as db
from django.urls import reverse

from locks.models import Device, LockProviderConnection
from reservations.models import DeviceAlert, LockEvent
from tests.factories import ConnectionFactory, DeviceFactory
from tests.webhook_signing import SECRET, signed_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(org_a):
    """A connection whose webhook is set up, with one lock."""
    connection = ConnectionFactory(organization=org_a.organization, workspace_id="ws_1")
    connection.webhook_secret = SECRET
    connection.webhook_id = "webhook_1"
    connection.save()
    DeviceFactory(connection=connection, provider_device_id="lock_1", name="Front Door")
    return connection


def event(event_id="evt_1", event_type="device.disconnected", minutes_ago=0, **fields):
    at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=minutes_ago)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "event_id": event_id,
        "event_type": event_type,
        "workspace_id": "ws_1",
        "device_id": "lock_1",
        "created_at": stamp,
        "occurred_at": stamp,
        **fields,
    }


def deliver(client, connection, payload, *, body=None, headers=None, **signing):
    body = body if body is not None else json.dumps(payload)
    headers = headers if headers is not None else signed_headers(body, **signing)
    return client.post(
        reverse("seam_webhook", args=[connection.pk]),
        data=body,
        content_type="application/json",
        **headers,
    )


def nothing_changed(connection):
    lock = Device.objects.get(connection=connection, provider_device_id="lock_1")
    return (
        lock.online
        and not LockEvent.objects.filter(connection=connection).exists()
        and not DeviceAlert.objects.filter(device=lock).exists()
    )


def test_a_signed_event_is_processed_once_even_when_delivered_twice(client, hooked):
    payload = event()
    first = deliver(client, hooked, payload)
    again = deliver(client, hooked, payload, msg_id="msg_1")  # Svix retries: same message
    resent = deliver(client, hooked, payload, msg_id="msg_2")  # or a new message, same event
    assert [r.status_code for r in (first, again, resent)] == [200, 200, 200]
    assert [r.json()["status"] for r in (first, again, resent)] == [
        "recorded",
        "duplicate",
        "duplicate",
    ]
    assert LockEvent.objects.filter(connection=hooked).count() == 1
    lock = Device.objects.get(provider_device_id="lock_1")
    assert lock.online is False
    assert DeviceAlert.objects.filter(device=lock, resolved_at__isnull=True).count() == 1


def test_a_bad_signature_is_refused_and_changes_nothing(client, hooked):
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    response = deliver(client, hooked, event(), secret=other)
    assert response.status_code == 400
    assert nothing_changed(hooked)


def test_a_tampered_body_is_refused_and_changes_nothing(client, hooked):
    signed = json.dumps(event(event_type="lock.unlocked"))
    tampered = json.dumps(event(event_type="device.disconnected"))
    response = deliver(client, hooked, None, body=tampered, headers=signed_headers(signed))
    assert response.status_code == 400
    assert nothing_changed(hooked)


@pytest.mark.parametrize("missing", ["HTTP_SVIX_ID", "HTTP_SVIX_TIMESTAMP", "HTTP_SVIX_SIGNATURE"])
def test_a_missing_header_is_refused_and_changes_nothing(client, hooked, missing):
    body = json.dumps(event())
    headers = signed_headers(body)
    del headers[missing]
    assert deliver(client, hooked, None, body=body, headers=headers).status_code == 400
    assert deliver(client, hooked, None, body=body, headers={}).status_code == 400
    assert nothing_changed(hooked)


def test_an_old_timestamp_is_refused_and_changes_nothing(client, hooked):
    sent_at = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    response = deliver(client, hooked, event(), sent_at=sent_at)  # correctly signed, stale
    assert response.status_code == 400
    assert nothing_changed(hooked)


def test_garbage_headers_are_refused_not_an_error(client, hooked):
    body = json.dumps(event())
    headers = {
        "HTTP_SVIX_ID": "msg_1",
        "HTTP_SVIX_TIMESTAMP": "not-a-time",
        "HTTP_SVIX_SIGNATURE": "v1",
    }
    assert deliver(client, hooked, None, body=body, headers=headers).status_code == 400
    headers = signed_headers(body)
    headers["HTTP_SVIX_SIGNATURE"] = "v1,%%%not-base64"
    assert deliver(client, hooked, None, body=body, headers=headers).status_code == 400
    assert nothing_changed(hooked)


def test_a_connection_without_a_webhook_or_unknown_answers_404(client, hooked, org_a):
    plain = ConnectionFactory(organization=org_a.organization)
    assert deliver(client, plain, event()).status_code == 404
    missing = LockProviderConnection(pk=999_999)
    assert deliver(client, missing, event()).status_code == 404


def test_only_post_is_accepted(client, hooked):
    assert client.get(reverse("seam_webhook", args=[hooked.pk])).status_code == 405


def test_an_event_of_another_workspace_or_an_unknown_lock_is_ignored(client, hooked):
    assert deliver(client, hooked, event(workspace_id="ws_other")).json()["status"] == "ignored"
    response = deliver(client, hooked, event(event_id="evt_2", device_id="not_imported"))
    assert response.json()["status"] == "ignored"
    assert nothing_changed(hooked)


def test_a_signed_body_that_is_not_an_event_is_acknowledged_and_ignored(client, hooked):
    response = deliver(client, hooked, {"hello": "world"})
    assert response.status_code == 200 and response.json() == {"ignored": "unreadable"}
    assert nothing_changed(hooked)


@pytest.mark.parametrize(
    "fields",
    [
        {"created_at": 1735689600},
        {"created_at": "yesterday"},
        {"occurred_at": ["2025-01-01T00:00:00Z"]},
        {"event_id": 42},
        {"event_type": {"name": "device.disconnected"}},
        {"access_code_id": 12345},
        {"access_code_id": "x" * 101},
        {"device_id": ["lock_1"]},
        {"device_id": "lock_\u0000"},
        {"workspace_id": False},
        {"battery_level": float("nan")},
        {"battery_level": float("inf")},
        {"battery_level": "low"},
        {"battery_level": True},
        {"battery_level": 7},
        {"device_battery_level": -0.5},
        {"access_code_is_managed": "yes"},
        {"method": 3},
        {"code": ["1234"]},
    ],
    ids=repr,
)
def test_a_signed_event_with_a_field_of_an_unexpected_type_is_acknowledged_as_unreadable(
    client, hooked, fields, caplog
):
    payload = {**event(event_type="lock.unlocked"), **fields}
    response = deliver(client, hooked, payload)  # NaN and NUL go out as JSON allows
    # A 2xx: Svix stops delivering a payload that would be refused again.
    assert response.status_code == 200
    assert response.json() == {"ignored": "unreadable"}
    assert nothing_changed(hooked)
    assert any("unreadable" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "body", ["[1, 2]", '"text"', "null", "{not json", "[" * 100_000 + "]" * 100_000]
)
def test_a_signed_body_that_is_not_an_object_is_acknowledged_as_unreadable(client, hooked, body):
    response = deliver(client, hooked, None, body=body)
    assert response.status_code == 200 and response.json() == {"ignored": "unreadable"}


def test_stray_values_elsewhere_in_a_readable_event_are_stored_safely(client, hooked):
    payload = event(
        event_type="lock.unlocked",
        extra={"ratio": float("nan"), "note": "a\u0000b", "big": float("-inf")},
    )
    response = deliver(client, hooked, payload)
    assert response.status_code == 200 and response.json()["status"] == "recorded"
    stored = LockEvent.objects.get(connection=hooked).payload["extra"]
    assert stored == {"ratio": None, "note": "ab", "big": None}


def test_a_late_delivery_does_not_undo_a_newer_state(client, hooked):
    back = event(event_id="evt_2", event_type="device.connected", minutes_ago=1)
    gone = event(event_id="evt_1", event_type="device.disconnected", minutes_ago=5)
    deliver(client, hooked, back, msg_id="msg_2")
    deliver(client, hooked, gone, msg_id="msg_1")  # delivered after, happened before
    lock = Device.objects.get(provider_device_id="lock_1")
    assert lock.online is True
    assert not DeviceAlert.objects.filter(device=lock, resolved_at__isnull=True).exists()
    assert LockEvent.objects.filter(connection=hooked).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    db.vendor != "postgresql", reason="concurrent transactions are exercised on PostgreSQL"
)
def test_two_simultaneous_deliveries_of_one_event_record_it_once(hooked):
    from django.db import connections
    from django.test import Client

    start = threading.Barrier(2)
    answers, errors = [], []

    def deliver_once(msg_id):
        try:
            start.wait()
            answers.append(deliver(Client(), hooked, event(), msg_id=msg_id).json()["status"])
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver_once, args=(f"msg_{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(answers) == ["duplicate", "recorded"]
    assert LockEvent.objects.filter(connection=hooked).count() == 1
    assert DeviceAlert.objects.filter(resolved_at__isnull=True).count() == 1


def test_the_digits_an_unlock_reports_are_never_stored(client, hooked):
    payload = event(event_type="lock.unlocked", method="keycode", code="482913")
    deliver(client, hooked, payload)
    stored = LockEvent.objects.get(connection=hooked)
    assert "482913" not in json.dumps(stored.payload)
    with db.cursor() as cursor:
        cursor.execute("SELECT payload FROM locks_lockevent WHERE id = %s", [stored.pk])
        assert "482913" not in str(cursor.fetchone()[0])


# ------------------------------------------------------- setting it up at Seam


@pytest.fixture
def seam_connection(org_a, fake_seam, seam_client):
    from locks.services import connection_create

    return connection_create(
        organization=org_a.organization,
        name="Seam",
        api_key=fake_seam.api_key,
        endpoint=fake_seam.url,
    )


def test_a_manager_sets_up_the_webhook_from_the_connection_page(
    manager_client, seam_connection, seam_client
):
    page = manager_client.get(reverse("smart_devices:list")).content.decode()
    assert "No webhook" in page and "Set up webhook" in page

    response = manager_client.post(reverse("smart_devices:webhook", args=[seam_connection.pk]))
    assert response.status_code == 302
    seam_connection.refresh_from_db()
    url = f"http://testserver/webhooks/seam/{seam_connection.pk}/"
    at_seam = {w.webhook_id: w for w in seam_client.webhooks.list()}
    assert at_seam[seam_connection.webhook_id].url == url
    secret = at_seam[seam_connection.webhook_id].secret
    assert seam_connection.webhook_secret == secret
    assert secret not in seam_connection.webhook_secret_ciphertext  # stored encrypted

    page = manager_client.get(reverse("smart_devices:list")).content.decode()
    assert "Webhook set up" in page and "Set up webhook again" in page
    assert secret not in page

    # Again: a new webhook replaces the old one at Seam.
    first = seam_connection.webhook_id
    manager_client.post(reverse("smart_devices:webhook", args=[seam_connection.pk]))
    seam_connection.refresh_from_db()
    ids = {w.webhook_id for w in seam_client.webhooks.list() if w.url == url}
    assert ids == {seam_connection.webhook_id} and first not in ids


def test_staff_cannot_set_up_the_webhook_and_another_org_cannot_see_it(
    client, seam_connection, org_a, org_b
):
    target = reverse("smart_devices:webhook", args=[seam_connection.pk])
    client.force_login(org_a.staff)
    assert client.post(target).status_code == 403
    client.force_login(org_b.manager)
    assert client.post(target).status_code == 404
    seam_connection.refresh_from_db()
    assert not seam_connection.has_webhook


def test_an_unknown_id_and_a_connection_without_a_webhook_answer_alike(client, hooked, org_a):
    """Nobody can tell from the answer which connection ids exist."""
    plain = ConnectionFactory(organization=org_a.organization)
    plain.webhook_id = "webhook_never_finished"  # set up half-way: no secret
    plain.save()
    answers = []
    for connection_id in (plain.pk, 999_999, 2**63 + 1):
        response = client.post(
            reverse("seam_webhook", args=[connection_id]),
            data=json.dumps(event()),
            content_type="application/json",
            **signed_headers(json.dumps(event())),
        )
        answers.append((response.status_code, response.content, sorted(response.items())))
    assert answers[0][0] == 404
    assert answers[0] == answers[1] == answers[2]
