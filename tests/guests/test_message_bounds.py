"""Guest messages are bounded: the free text they quote is capped where it is written, a
template that could render past GUEST_MESSAGE_MAX_CHARS is refused when it is saved, and
every render (preview, copy, sends) stops at that limit, whatever the data."""

import importlib
import tracemalloc

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from guests import services
from guests.content import compose
from guests.models import MessageTemplate
from guests.placeholders import PLACEHOLDER_MAX_LENGTHS, PLACEHOLDERS, worst_case_length
from locks.models import Device
from properties.models import Listing, Organization, Property
from reservations.models import Reservation
from tests.api.conftest import session_client

pytestmark = pytest.mark.django_db

Kind = MessageTemplate.Kind
HOSTILE_BODY = "{check_in_instructions}" * (10_000 // len("{check_in_instructions}"))


def maximal(org):
    """Every text a message quotes at its longest."""
    cap = PLACEHOLDER_MAX_LENGTHS
    Organization.objects.filter(pk=org.organization.pk).update(name="O" * cap["organization"])
    Property.objects.filter(pk=org.property.pk).update(
        name="P" * cap["property"], address="A " * (cap["property_address"] // 2)
    )
    Listing.objects.filter(pk=org.listing.pk).update(
        name="L" * cap["listing"], check_in_instructions="I" * cap["check_in_instructions"]
    )
    Reservation.objects.filter(pk=org.reservation.pk).update(guest_name="G" * cap["guest_name"])
    return Reservation.objects.select_related("listing__property", "organization").get(
        pk=org.reservation.pk
    )


def worst_template_that_fits(org) -> MessageTemplate:
    """Every placeholder once in the subject and as often as fits in the body."""
    subject = "".join("{" + name + "}" for name in PLACEHOLDERS)
    body = subject
    step = "\n{check_in_instructions}"
    while worst_case_length(subject) + worst_case_length(body + step) <= (
        settings.GUEST_MESSAGE_MAX_CHARS
    ):
        body += step
    return MessageTemplate(
        organization=org.organization, kind=Kind.CODE, subject=subject, body=body
    )


def test_the_worst_template_with_maximal_fields_renders_within_the_limit(org_a):
    reservation = maximal(org_a)
    template = services.template_save(template=worst_template_that_fits(org_a))

    composed = compose(reservation, Kind.CODE, template=template)

    assert len(composed.subject) + len(composed.body) <= settings.GUEST_MESSAGE_MAX_CHARS
    # Nothing was cut to get there: each use of the instructions is quoted whole.
    uses = template.body.count("{check_in_instructions}")
    assert uses >= 4
    assert composed.body.count("I" * 5_000) == uses
    assert "G" * 200 in composed.subject and "A A A" in composed.body


def test_a_template_that_could_exceed_the_limit_is_refused_with_a_field_message(
    org_a, manager_client
):
    hostile = MessageTemplate(
        organization=org_a.organization, kind=Kind.CODE, subject="Hi", body=HOSTILE_BODY
    )
    with pytest.raises(ValidationError) as refused:
        services.template_save(template=hostile)
    message = " ".join(refused.value.message_dict["body"])
    assert "could reach 2,170,002 characters; the most is 50,000" in message
    assert "{check_in_instructions} ×434" in message

    response = manager_client.post(
        reverse("admin:guests_messagetemplate_add"),
        {
            "organization": org_a.organization.pk,
            "listing": "",
            "kind": Kind.CODE,
            "language": "en",
            "send_hours_before": "",
            "subject": "Hi {guest_name}",
            "body": HOSTILE_BODY,
            "active": "on",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["body"]
    assert any("the most is 50,000" in error for error in errors)
    assert not MessageTemplate.objects.exists()


def test_a_template_saved_before_the_rule_still_renders_within_the_limit_in_flat_memory(
    org_a, manager_client
):
    reservation = maximal(org_a)
    Listing.objects.filter(pk=org_a.listing.pk).update(check_in_instructions="I" * 2_500_000)
    old = MessageTemplate.objects.create(  # as written before templates were measured
        organization=org_a.organization, kind=Kind.CODE, subject="Hi", body=HOSTILE_BODY
    )
    reservation.listing.refresh_from_db()

    tracemalloc.start()
    try:
        composed = compose(reservation, Kind.CODE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert composed.template == old
    assert len(composed.subject) + len(composed.body) <= settings.GUEST_MESSAGE_MAX_CHARS
    assert peak < 20 * 2**20  # not the gigabyte the 2.5 MB text × 434 would make
    # The preview goes through the same bound.
    page = manager_client.get(
        reverse("admin:guests_messagetemplate_preview", args=[old.pk]),
        {"reservation": reservation.pk},
    )
    assert page.status_code == 200
    assert len(page.content) < settings.GUEST_MESSAGE_MAX_CHARS + 100_000


def test_the_placeholder_caps_are_the_fields_caps():
    assert PLACEHOLDER_MAX_LENGTHS.keys() == PLACEHOLDERS.keys()
    fields = {
        "guest_name": Reservation._meta.get_field("guest_name"),
        "organization": Organization._meta.get_field("name"),
        "listing": Listing._meta.get_field("name"),
        "property": Property._meta.get_field("name"),
        "property_address": Property._meta.get_field("address"),
        "check_in_instructions": Listing._meta.get_field("check_in_instructions"),
    }
    for name, model_field in fields.items():
        assert model_field.max_length == PLACEHOLDER_MAX_LENGTHS[name], name
    assert Device._meta.get_field("name").max_length == 200


def test_long_instructions_and_address_are_refused_by_the_admin_and_the_api(org_a, manager_client):
    url = reverse("admin:properties_listing_change", args=[org_a.listing.pk])
    form = manager_client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if name in form.fields and value is not None
    }
    data.update(
        {
            "property": org_a.property.pk,
            "check_in_instructions": "x" * 5_001,
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
        }
    )
    response = manager_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "at most 5000 characters" in " ".join(errors["check_in_instructions"])

    api = session_client(org_a.manager)
    answer = api.patch(
        f"/api/v1/properties/{org_a.property.pk}/", {"address": "x" * 501}, format="json"
    )
    assert answer.status_code == 400
    assert "no more than 500 characters" in answer.json()["address"][0]


def test_the_migration_cuts_existing_text_over_the_caps(org_a, caplog):
    Property.objects.filter(pk=org_a.property.pk).update(address="a" * 600)
    Listing.objects.filter(pk=org_a.listing.pk).update(check_in_instructions="i" * 6_000)
    migration = importlib.import_module(
        "properties.migrations.0008_cap_address_and_check_in_instructions"
    )

    migration.cut_to_caps(apps, None)

    assert Property.objects.get(pk=org_a.property.pk).address == "a" * 500
    assert Listing.objects.get(pk=org_a.listing.pk).check_in_instructions == "i" * 5_000
    assert f"Property {org_a.property.pk}: address cut from 600 to 500 characters." in caplog.text
