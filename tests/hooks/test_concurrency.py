"""Two workers sweeping the same due deliveries send each one once (PostgreSQL)."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from hooks import services
from hooks.models import WebhookDelivery
from reservations import signals
from tests.hooks.factories import webhook_endpoint

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row claims between processes are exercised on PostgreSQL (CI runs both)",
    ),
]


def test_two_workers_on_the_same_due_deliveries_send_each_once(
    org_a, receiver, local_receivers_allowed
):
    webhook_endpoint(org_a, f"{receiver.url}/a", events=[signals.ARRIVED])
    webhook_endpoint(org_a, f"{receiver.url}/b", events=[signals.ARRIVED])
    for _ in range(10):
        services.deliveries_record(event=signals.ARRIVED, reservation_id=org_a.reservation.pk)
    start = threading.Barrier(2)
    sent, errors = [], []

    def worker():
        try:
            start.wait()
            sent.append(services.deliver_due(batch=5))
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sum(sent) == 20
    per_delivery = Counter(r.headers["Keystay-Delivery"] for r in receiver.requests)
    assert len(per_delivery) == 20 and set(per_delivery.values()) == {1}
    assert set(WebhookDelivery.objects.values_list("state", "attempts")) == {("delivered", 1)}


def test_two_workers_on_the_same_due_code_deliveries_record_each_for_the_guest_once(
    wired, receiver, local_receivers_allowed
):
    """A delivery that handed the door codes to a PMS is recorded among the stay's guest
    messages by the worker that recorded its outcome, and only by it."""
    from guests.models import GuestMessage
    from hooks import payloads

    reservation = wired.book()  # before the endpoint: its own event is owed to nobody
    webhook_endpoint(wired.listing, f"{receiver.url}/a", events=[signals.CODE_GENERATED])
    for _ in range(10):
        services.deliveries_record(event=signals.CODE_GENERATED, reservation_id=reservation.pk)
    assert all(payloads.carries_codes(d.payload) for d in WebhookDelivery.objects.all())
    start = threading.Barrier(2)
    errors = []

    def worker():
        try:
            start.wait()
            services.deliver_due(batch=3)
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(receiver.requests) == 10
    references = GuestMessage.objects.values_list("reference", flat=True)
    assert sorted(references) == sorted(
        str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True)
    )
