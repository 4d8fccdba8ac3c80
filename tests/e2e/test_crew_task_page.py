"""A cleaner opens the task page they were emailed, in headless Chromium, and marks the
unit ready: the next guest's code starts earlier at Seam's fake, and the guest receives
the "ready early" email (a real local SMTP server)."""

import datetime

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from reservations import services
from reservations.models import ReservationCode, Turnover
from reservations.turnovers import task_token
from tests.fixtures_lifecycle import same_day_pair
from tests.smtp import smtp_server, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def seam_time(value):
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_the_cleaner_marks_the_unit_ready_and_the_next_guest_comes_early(
    browser, live_server, crew, settings
):
    cache.clear()
    crew.listing.early_check_in_max_minutes = 180
    crew.listing.save()
    with smtp_server(settings) as inbox:
        settings.KEYSTAY_PUBLIC_URL = live_server.url
        first, second = same_day_pair(crew)
        second.guest_email = "jon@example.com"
        second.save(update_fields=["guest_email"])
        ReservationCode.objects.filter(reservation=second).update(sent_at=timezone.now())
        turnover = Turnover.objects.get(after_stay=first)
        # Rosa was told her doors, code and task page (of this turnover, and of the one
        # after Jon's stay).
        to_rosa = [text_of(m) for m in inbox.messages if m["To"] == "rosa@example.com"]
        assert any(
            turnover.code in body and "/t/" in body and "Front gate" in body for body in to_rosa
        )

        # 11:30 on the day: Maria has left, Jon checks in at 15:00.
        ready = first.check_out + datetime.timedelta(minutes=30)
        traveller = time_machine.travel(ready, tick=False)
        traveller.start()
        try:
            services.process_due()
            page = browser.new_page()
            path = reverse("crew_task_page", args=[task_token(turnover)])
            assert page.goto(f"{live_server.url}{path}").status == 200
            gate = page.locator('[data-door="Front gate"]')  # its label
            expect(gate.locator("[data-code]")).to_have_text(turnover.code)
            expect(page.locator('[data-door="Side Door"]')).to_have_count(0)  # guests only
            page.get_by_role("button", name="Done — unit ready").click()
            expect(page.locator("[data-ready]")).to_contain_text("Unit ready")
            # Pressed again (the page reloaded): nothing more happens.
            turnover.refresh_from_db()
            assert turnover.state == Turnover.State.DONE and turnover.done_by == "Rosa"
            done_at = turnover.done_at
            services.process_due()
        finally:
            traveller.stop()

        earliest = second.check_in - datetime.timedelta(minutes=180)  # 12:00
        for device in (crew.gate, crew.side):
            (code,) = [c for c in crew.codes_on(device) if c.code == second.code.value]
            assert code.starts_at == seam_time(earliest)
        (to_jon,) = [m for m in inbox.messages if m["To"] == "jon@example.com"]
        assert "ready early" in to_jon["Subject"]
        assert "12:00" in text_of(to_jon)
        turnover.refresh_from_db()
        assert turnover.done_at == done_at


def test_a_portuguese_speaking_cleaners_page_is_in_portuguese_and_done_works(
    browser, live_server, crew
):
    cache.clear()
    crew.rosa.language = "pt"
    crew.rosa.save(update_fields=["language"])
    first, _second = same_day_pair(crew)
    turnover = Turnover.objects.get(after_stay=first)
    traveller = time_machine.travel(first.check_out + datetime.timedelta(minutes=30), tick=False)
    traveller.start()
    try:
        services.process_due()
        page = browser.new_page()
        path = reverse("crew_task_page", args=[task_token(turnover)])
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200 and response.headers["content-language"] == "pt"
        expect(page.locator("html")).to_have_attribute("lang", "pt")
        expect(page.locator("#doors-title")).to_have_text("O seu código de porta")
        expect(page.locator("[data-window]")).to_contain_text("Funciona de")
        page.get_by_role("button", name="Concluído — unidade pronta").click()
        expect(page.locator("[data-ready]")).to_contain_text("Unidade pronta — obrigado")
    finally:
        traveller.stop()
    turnover.refresh_from_db()
    assert turnover.state == Turnover.State.DONE and turnover.done_by == "Rosa"
