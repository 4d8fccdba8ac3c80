"""The cleaner's task page before the guests leave: no "Done" button, and a word on
from when (a tap then once took the crew's code off and started the next guest early)."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from locks.models import LockAssignment
from properties.models import CrewMember
from reservations.models import Turnover
from reservations.turnovers import task_token, turnover_replan
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


NO_CODE = {
    "en": "This turnover has no door code",
    "de": "Für diese Reinigung gibt es keinen Türcode",
    "es": "Esta limpieza no tiene código de puerta",
    "fr": "Ce ménage n'a pas de code de porte",
    "pt": "Esta limpeza não tem código de porta",
}


def test_a_turnover_at_a_listing_without_crew_doors_says_no_code_is_coming(crew, client):
    LockAssignment.objects.filter(listing=crew.listing).update(staff_access=False)
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    path = reverse("crew_task_page", args=[task_token(turnover)])
    for language, words in NO_CODE.items():
        CrewMember.objects.filter(pk=crew.rosa.pk).update(language=language)
        page = client.get(path).content.decode()
        assert words in page, language
        assert "data-no-code" in page and "data-code>" not in page
    CrewMember.objects.filter(pk=crew.rosa.pk).update(language="en")
    assert "will appear here shortly" not in client.get(path).content.decode()

    # A listing whose crew doors are there: the code is on its way, the page says so.
    LockAssignment.objects.filter(listing=crew.listing, device=crew.gate).update(staff_access=True)
    turnover_replan(turnover=turnover)
    page = client.get(path).content.decode()
    assert "data-no-code" not in page and "data-door=" in page
