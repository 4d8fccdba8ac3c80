"""The cleaner's task page before the guests leave: no "Done" button, and a word on
from when (a tap then once took the crew's code off and started the next guest early)."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from reservations.models import Turnover
from reservations.turnovers import task_token
from tests.fixtures_lifecycle import same_day_pair

pytestmark = pytest.mark.django_db


def test_the_task_page_offers_done_only_once_the_guests_have_left(crew, client):
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    path = reverse("crew_task_page", args=[task_token(turnover)])
    with time_machine.travel(turnover.starts_at - datetime.timedelta(hours=2), tick=False):
        page = client.get(path).content.decode()
        assert "data-done" not in page and "The guests leave at" in page
        client.post(path)  # a forged tap changes nothing
    turnover.refresh_from_db()
    assert turnover.state == Turnover.State.PLANNED
    with time_machine.travel(turnover.starts_at + datetime.timedelta(minutes=5), tick=False):
        assert "data-done" in client.get(path).content.decode()
        client.post(path)
    turnover.refresh_from_db()
    assert turnover.state == Turnover.State.DONE
