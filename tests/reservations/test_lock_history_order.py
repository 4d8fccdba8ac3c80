"""A stay's "Code on each lock" lists each lock's steps in the order they happened: a lock
that confirmed the code at 22:10 before Keystay's re-send at 22:13 was listed "sent 22:13,
confirmed 22:10"."""

import datetime
import re

import pytest
from django.urls import reverse

from reservations.models import LockAccess

pytestmark = pytest.mark.django_db

State = LockAccess.State


def _steps(page: str) -> list[str]:
    cell = re.search(r'<td class="field-programming">(.*?)</td>', page, re.S)[1]
    text = re.sub(r"</?p>", "", cell)
    return [re.sub(r"\s+", " ", line).strip() for line in text.split("<br>")]


def test_steps_are_listed_by_when_they_happened(manager_client, org_a):
    zone = org_a.property.zone
    evening = datetime.datetime(2026, 12, 5, 22, 0, tzinfo=zone)
    reservation = org_a.reservation
    LockAccess.objects.create(
        reservation=reservation,
        organization_id=reservation.organization_id,
        device=org_a.device,
        assignment=org_a.assignment,
        starts_at=evening,
        ends_at=evening + datetime.timedelta(days=2),
        program_at=evening - datetime.timedelta(hours=1),
        state=State.CONFIRMED,
        programmed_at=evening + datetime.timedelta(minutes=13),
        confirmed_at=evening + datetime.timedelta(minutes=10),
    )
    page = manager_client.get(
        reverse("admin:reservations_reservation_change", args=[reservation.pk])
    ).content.decode()
    steps = _steps(page)
    assert [step.split(" ")[0] for step in steps] == ["planned", "confirmed", "sent"]
    assert "22:10" in steps[1] and "22:13" in steps[2]
