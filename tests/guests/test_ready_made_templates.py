"""A new organization starts with Keystay's ready-made templates switched on, so its first
confirmed stay is emailed without a manager writing anything; an organization that existed
before gets them switched off, a dashboard notice says so, and its guests hear nothing new
until a manager switches them on."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from core.languages import language_codes
from guests.models import GuestMessage, MessageTemplate
from properties.models import Organization
from properties.services import organization_create
from tests.factories import DeviceFactory, ListingFactory, LockAssignmentFactory, PropertyFactory
from tests.guests.conftest import CHECK_IN, book, scheduled, send_at, text_of

pytestmark = pytest.mark.django_db

Kind = MessageTemplate.Kind
MIGRATION = importlib.import_module(
    "guests.migrations.0007_ready_made_templates_switched_off_for_existing_organizations"
)


def give_existing_organizations_the_set():
    """What the data migration did to the organizations that existed before."""
    MIGRATION.add_switched_off(apps, None)


def new_organization(committed):
    with committed():
        organization, _ = organization_create(name="Newcomer", owner_username="newcomer")
    prop = PropertyFactory(organization=organization, time_zone="America/New_York")
    listing = ListingFactory(property=prop, name="Harbour Loft")
    device = DeviceFactory(connection__organization=organization, name="Front Door")
    LockAssignmentFactory(listing=listing, device=device)
    return organization, listing


def test_a_new_organizations_first_stay_gets_the_ready_made_email(committed, smtp):
    organization, listing = new_organization(committed)
    templates = MessageTemplate.objects.filter(organization=organization)
    # The door codes, times changed, and ready early, in every language Keystay speaks.
    assert templates.count() == 3 * len(language_codes())
    assert all(t.active and t.is_default and t.listing_id is None for t in templates)
    code = templates.get(kind=Kind.CODE, language="en")
    assert code.send_hours_before == 48

    reservation = book(type("W", (), {"listing": listing}), committed)
    message = scheduled(reservation)
    assert message.due_at == CHECK_IN - datetime.timedelta(hours=48)
    assert send_at(message.due_at) == 1

    [sent] = smtp.messages
    assert sent["To"] == "maria@example.com"
    assert sent["Subject"] == "Your door codes for Harbour Loft"
    body = text_of(sent)
    assert "Hello Maria Silva," in body
    assert "Check-in: Monday 15 March 2027, 15:00 EDT (America/New_York)" in body
    assert f"- Front Door: {reservation.code.value}" in body
    assert "https://keystay.example.com/g/" in body


def test_a_new_organizations_guest_who_reads_german_gets_the_german_set(committed, smtp):
    organization, listing = new_organization(committed)
    reservation = book(
        type("W", (), {"listing": listing}), committed, language="de", guest_name="Jürgen"
    )
    send_at(scheduled(reservation).due_at)
    [sent] = smtp.messages
    assert sent["Subject"] == "Ihre Türcodes für Harbour Loft"
    assert "Check-in: Montag, 15. März 2027, 15:00 EDT" in text_of(sent)


def test_the_ready_early_template_is_worded_in_each_language(committed):
    organization, _listing = new_organization(committed)
    ready = MessageTemplate.objects.filter(organization=organization, kind=Kind.READY_EARLY)
    subjects = dict(ready.values_list("language", "subject"))
    assert subjects["en"] == "Your place at {listing} is ready early"
    assert subjects["pt"] == "O seu alojamento em {listing} está pronto mais cedo"
    assert subjects["de"] == "Ihre Unterkunft in {listing} ist früher bereit"
    assert "{ready_from}" in ready.get(language="fr").body
    assert all(t.send_hours_before is None for t in ready)


def test_the_ready_made_templates_can_be_edited_and_previewed(committed, client):
    organization, listing = new_organization(committed)
    reservation = book(type("W", (), {"listing": listing}), committed)
    template = MessageTemplate.objects.get(
        organization=organization, kind=Kind.CODE, language="pt"
    )
    client.force_login(organization.memberships.get().user)
    preview = reverse("admin:guests_messagetemplate_preview", args=[template.pk])
    page = client.get(preview, {"reservation": reservation.pk}).content.decode()
    assert "Os seus códigos de porta para Harbour Loft" in page
    change = client.get(reverse("admin:guests_messagetemplate_change", args=[template.pk]))
    assert change.status_code == 200 and "ready-made" in change.content.decode().lower()


def test_an_existing_organization_hears_nothing_new_until_a_manager_switches_them_on(
    ny, committed, smtp, manager_client, org_b
):
    give_existing_organizations_the_set()
    organization = ny.listing.organization
    off = MessageTemplate.objects.filter(organization=organization)
    assert off.count() == 3 * len(language_codes())
    assert not off.filter(active=True).exists() and not off.filter(is_default=False).exists()

    reservation = book(ny, committed)
    assert not GuestMessage.objects.filter(reservation=reservation).exists()
    assert send_at(CHECK_IN - datetime.timedelta(hours=47)) == 0
    assert smtp.envelopes == []

    # The dashboard says they exist and are off, to this organization's people only.
    dashboard = manager_client.get(reverse("dashboard")).content.decode()
    assert 'id="ready-made-templates"' in dashboard and "Alpha" in dashboard
    stranger = Client()
    stranger.force_login(org_b.manager)
    other = stranger.get(reverse("dashboard")).content.decode()
    assert "Alpha" not in other.split('id="ready-made-templates"')[-1][:400]

    # A manager switches the set on: the coming stay is planned and emailed.
    with committed():
        response = manager_client.post(
            reverse("admin:guests_messagetemplate_changelist"),
            {
                "action": "switch_on_ready_made",
                "index": "0",
                "_selected_action": [str(pk) for pk in off.values_list("pk", flat=True)],
            },
        )
    assert response.status_code == 302
    assert off.filter(active=True).count() == 3 * len(language_codes())
    assert (
        'id="ready-made-templates"'
        not in manager_client.get(reverse("dashboard")).content.decode()
    )
    message = scheduled(reservation)
    send_at(message.due_at)
    [sent] = smtp.messages
    assert sent["Subject"] == f"Your door codes for {ny.listing.name}"


def test_staff_cannot_switch_the_set_on(ny, committed, client, org_a):
    give_existing_organizations_the_set()
    client.force_login(org_a.staff)
    ids = list(MessageTemplate.objects.values_list("pk", flat=True))
    client.post(
        reverse("admin:guests_messagetemplate_changelist"),
        {
            "action": "switch_on_ready_made",
            "index": "0",
            "_selected_action": [str(pk) for pk in ids],
        },
    )
    assert not MessageTemplate.objects.filter(active=True).exists()


def test_the_migration_keeps_a_managers_own_template_and_another_organization_apart(org_a, org_b):
    own = MessageTemplate.objects.create(
        organization=org_a.organization,
        kind=Kind.CODE,
        language="en",
        subject="Mine",
        body="{doors}",
        send_hours_before=24,
    )
    give_existing_organizations_the_set()
    own.refresh_from_db()
    assert own.subject == "Mine" and own.active and not own.is_default
    assert not MessageTemplate.objects.filter(
        organization=org_a.organization, kind=Kind.CODE, language="en", is_default=True
    ).exists()
    assert MessageTemplate.objects.filter(organization=org_b.organization).count() == 15


def test_an_organization_a_superuser_adds_in_the_admin_starts_with_the_set(
    client, committed, django_user_model
):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    with committed():
        response = client.post(
            reverse("admin:properties_organization_add"),
            {"name": "Added", "low_battery_percent": "20", "default_language": "fr"},
        )
    assert response.status_code == 302, response.content[:500]
    organization = Organization.objects.get(name="Added")
    assert organization.default_language == "fr"
    assert MessageTemplate.objects.filter(organization=organization, active=True).count() == 15
