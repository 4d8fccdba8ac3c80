"""A guest reads their page and their messages in their language (the stay's from the API,
else the listing's, else the organization's), with dates written that language's way in
the property's zone; a template in the stay's language wins, the organization's default
language stands in; the staff's admin stays in English."""

import pytest
from django.urls import reverse

from guests import services as guest_services
from guests.content import compose
from guests.links import guest_path
from guests.models import MessageTemplate
from guests.views import PRIVATE_HEADERS
from reservations.models import Reservation
from tests.api.conftest import key_client
from tests.guests.conftest import book, scheduled, send_at, text_of
from tests.guests.test_guest_page import fresh_rate_limits  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db

Kind = MessageTemplate.Kind


def code_template(ny, language, subject, body="{check_in}\n{doors}\n", **fields):
    return MessageTemplate.objects.create(
        organization=ny.listing.organization,
        kind=Kind.CODE,
        language=language,
        send_hours_before=48,
        subject=subject,
        body=body,
        **fields,
    )


def test_a_german_stay_gets_the_german_template_with_german_dates(ny, smtp, committed):
    code_template(ny, "en", "Your codes")
    code_template(ny, "de", "Ihre Codes für {listing}", "Check-in: {check_in}\n{doors}\n")
    reservation = book(ny, committed, language="de")
    send_at(scheduled(reservation).due_at)

    [sent] = smtp.messages
    assert sent["Subject"] == f"Ihre Codes für {ny.listing.name}"
    body = text_of(sent)
    assert "Check-in: Montag, 15. März 2027, 15:00 EDT (America/New_York)" in body
    assert f"- Garden Gate: {reservation.code.value}" in body


def test_a_portuguese_listing_tells_its_stays_in_portuguese(ny, smtp, committed):
    code_template(ny, "pt", "Os seus códigos", "Chegada: {check_in}\n{doors}\n")
    ny.listing.language = "pt"
    ny.listing.save()
    reservation = book(ny, committed)
    assert reservation.language == ""  # the listing's, not the stay's own
    send_at(scheduled(reservation).due_at)

    [sent] = smtp.messages
    assert sent["Subject"] == "Os seus códigos"
    assert "Chegada: Segunda-feira, 15 de Março de 2027, 15:00 EDT" in text_of(sent)


def test_without_a_template_in_its_language_the_organizations_default_language_speaks(
    ny, smtp, committed
):
    code_template(ny, "en", "Your codes for {listing}", "Check-in: {check_in}\n{doors}\n")
    reservation = book(ny, committed, language="fr")
    send_at(scheduled(reservation).due_at)

    [sent] = smtp.messages
    assert sent["Subject"] == f"Your codes for {ny.listing.name}"
    # The whole message in the template's language: its dates too.
    assert "Check-in: Monday 15 March 2027, 15:00 EDT" in text_of(sent)


def test_the_organizations_default_language_chooses_the_fallback_template(ny, committed):
    organization = ny.listing.organization
    organization.default_language = "es"
    organization.save()
    code_template(ny, "en", "Your codes")
    code_template(ny, "es", "Sus códigos", "Llegada: {check_in}\n")
    reservation = book(ny, committed, language="de")
    composed = compose(reservation, Kind.CODE)
    assert composed.subject == "Sus códigos"
    assert "Llegada: lunes, 15 de marzo de 2027, 15:00 EDT" in composed.body
    # A stay that names no language reads the organization's.
    other = book(ny, committed, external_id="B-2", guest_name="Ana Ruiz")
    assert compose(other, Kind.CODE).subject == "Sus códigos"


def test_keystays_own_wording_and_change_lines_are_translated(ny, committed):
    reservation = book(ny, committed, language="pt")
    composed = compose(reservation, Kind.CODE)  # no template: Keystay's wording
    assert composed.subject == f"Os seus códigos de porta para {ny.listing.name}"
    assert "Check-in: Segunda-feira, 15 de Março de 2027, 15:00 EDT" in composed.body
    assert "Os seus códigos de porta:\n- Garden Gate:" in composed.body

    told = composed.facts
    moved = reservation.check_in.replace(hour=reservation.check_in.hour + 2)
    Reservation.objects.filter(pk=reservation.pk).update(check_in=moved)
    reservation.refresh_from_db()
    changed = compose(reservation, Kind.CHANGED, told=told)
    assert changed.subject == f"A sua estadia em {ny.listing.name} mudou"
    assert (
        "- O check-in é agora Segunda-feira, 15 de Março de 2027, 17:00 EDT "
        "(America/New_York) (era Segunda-feira, 15 de Março de 2027, 15:00 EDT "
        "(America/New_York))." in changed.body
    )


def test_the_guest_page_speaks_the_stays_language_and_the_switch_changes_it(client, ny, committed):
    reservation = book(ny, committed, language="pt")
    path = guest_path(reservation)

    response = client.get(path)
    html = response.content.decode()
    assert response["Content-Language"] == "pt"
    assert '<html lang="pt">' in html
    assert "Quando e onde" in html and "When and where" not in html
    assert "Segunda-feira, 15 de Março de 2027, 15:00 EDT" in html
    assert reservation.code.value in html
    # The switch: plain links to the same page in each language, this one marked.
    for code in ("en", "pt", "es", "fr", "de"):
        assert f'href="{path}?lang={code}"' in html
    assert 'data-lang="pt" aria-current="true"' in html
    # The page's strict policy is kept: no form anywhere.
    assert response["Content-Security-Policy"] == PRIVATE_HEADERS["Content-Security-Policy"]
    assert "<form" not in html

    german = client.get(f"{path}?lang=de").content.decode()
    assert "Wann und wo" in german
    assert "Montag, 15. März 2027, 15:00 EDT" in german
    assert "Donnerstag, 18. März 2027, 11:00 EDT" in german
    assert reservation.code.value in german

    # A language Keystay does not speak falls back to the stay's.
    assert "Quando e onde" in client.get(f"{path}?lang=xx").content.decode()


def test_the_admin_stays_in_english_whatever_the_guests_read(manager_client, ny, committed):
    reservation = book(ny, committed, language="de")
    assert "Wann und wo" in manager_client.get(guest_path(reservation)).content.decode()
    page = manager_client.get(
        reverse("admin:reservations_reservation_change", args=[reservation.pk]),
        HTTP_ACCEPT_LANGUAGE="de",
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "Save and continue editing" in html
    assert "Sichern" not in html and "Speichern" not in html
    preview_guest_page = manager_client.get(
        reverse("admin:guests_messagetemplate_changelist"), HTTP_ACCEPT_LANGUAGE="pt"
    ).content.decode()
    assert "Select message template to change" in preview_guest_page


def test_the_api_takes_a_stays_language_and_refuses_one_keystay_does_not_speak(org_a, ny):
    api = key_client(org_a.organization)
    data = {
        "listing": ny.listing.pk,
        "guest_name": "Jean Dupont",
        "check_in": "2031-05-01",
        "check_out": "2031-05-04",
        "language": "fr",
    }
    response = api.post("/api/v1/reservations/", data)
    assert response.status_code == 201, response.json()
    assert response.json()["language"] == "fr"
    assert Reservation.objects.get(pk=response.json()["id"]).language == "fr"

    refused = api.post("/api/v1/reservations/", {**data, "language": "klingon"})
    assert refused.status_code == 400
    assert "is not a language Keystay speaks" in refused.json()["language"][0]
    assert "en, pt, es, fr, de" in refused.json()["language"][0]


def test_the_api_sets_a_listings_language_for_its_stays(org_a, ny, committed):
    api = key_client(org_a.organization)
    url = f"/api/v1/listings/{ny.listing.pk}/"
    response = api.patch(url, {"language": "de"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["language"] == "de"
    reservation = book(ny, committed)
    assert compose(reservation, Kind.CODE).subject == f"Ihre Türcodes für {ny.listing.name}"
    refused = api.patch(url, {"language": "de-AT"}, format="json")
    assert refused.status_code == 400 and "language" in refused.json()


def test_a_staff_copy_and_a_scheduled_email_follow_the_same_language(ny, smtp, committed):
    code_template(ny, "es", "Sus códigos", "Llegada: {check_in}\n{doors}\n")
    code_template(ny, "en", "Your codes")
    reservation = book(ny, committed, language="es")
    send_at(scheduled(reservation).due_at)
    [sent] = smtp.messages
    assert "Llegada: lunes, 15 de marzo de 2027, 15:00 EDT" in text_of(sent)
    assert guest_services.schedule_hours(reservation) == 48
