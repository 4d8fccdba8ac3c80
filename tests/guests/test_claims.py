"""Two workers never send one guest email twice: each due row is claimed with a
compare-and-set before it is sent (two threads on PostgreSQL; the claim itself anywhere)."""

import datetime
import threading

import pytest
from django.db import connection, connections

from guests import services
from guests.models import GuestMessage
from tests.guests.conftest import CHECK_IN, book, scheduled

State = GuestMessage.State
DUE = CHECK_IN - datetime.timedelta(hours=48)


@pytest.mark.django_db
def test_a_claimed_email_is_not_claimed_again_until_its_lease_runs_out(
    ny, committed, code_template
):
    message = scheduled(book(ny, committed))
    first = services._claim(message.pk, DUE)
    assert first is not None
    assert services._claim(message.pk, DUE) is None
    assert services.messages_send_due(now=DUE) == 0  # the sweep skips it too
    # A worker that died: once its lease is over, another takes the row.
    assert services._claim(message.pk, DUE + services.LEASE + datetime.timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row claims between processes are exercised on PostgreSQL (CI runs both)",
)
def test_two_workers_send_each_due_email_exactly_once(ny, committed, code_template, smtp):
    # Six stays due at the same instant (a double booking is accepted, each with its code).
    stays = [
        book(ny, committed, guest_name=f"Guest {n}", guest_email=f"guest{n}@example.com")
        for n in range(6)
    ]
    assert set(GuestMessage.objects.values_list("due_at", flat=True)) == {DUE}
    start = threading.Barrier(2)
    worked, errors = [], []

    def worker():
        try:
            start.wait()
            worked.append(services.messages_send_due(now=DUE))
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
    assert sum(worked) == len(stays)  # each row worked on once, by one worker or the other
    recipients = sorted(envelope.rcpt_tos[0] for envelope in smtp.envelopes)
    assert recipients == sorted(f"guest{n}@example.com" for n in range(6))
    assert set(GuestMessage.objects.values_list("state", flat=True)) == {State.SENT}
