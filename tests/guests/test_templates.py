"""Message templates: placeholders checked wherever a template is saved, a small renderer
that fills nothing but them, and a preview for a chosen reservation."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from guests import services
from guests.content import compose
from guests.models import MessageTemplate
from guests.placeholders import PLACEHOLDERS, render, unknown_placeholders
from tests.guests.conftest import SIDE_CODE, book, side_door_own_code

pytestmark = pytest.mark.django_db

Kind = MessageTemplate.Kind


def test_the_renderer_fills_only_known_placeholders():
    values = {"guest_name": "Maria", "listing": "Loft"}
    assert render("Hi {guest_name}, { listing }!", values) == "Hi Maria, Loft!"
    # Literal braces, JSON and lone braces stay text; nothing is looked up on objects.
    assert render('{{guest_name}} {"a": 1} {', values) == '{guest_name} {"a": 1} {'
    assert unknown_placeholders("{guest.name} {__class__} {doors} {code}") == [
        "guest.name",
        "__class__",
        "code",
    ]


def template(org, **fields):
    fields.setdefault("subject", "Codes for {listing}")
    fields.setdefault("body", "Hello {guest_name}\n{doors}")
    return MessageTemplate(organization=org.organization, kind=Kind.CODE, **fields)


def test_an_unknown_placeholder_is_refused_by_the_model_and_the_service(org_a):
    bad = template(org_a, body="Hello {guest_name}, your code is {code} ({guest.email})")
    with pytest.raises(ValidationError) as refused:
        bad.full_clean()
    message = " ".join(refused.value.message_dict["body"])
    assert "Unknown placeholders {code}, {guest.email}." in message
    assert "Valid placeholders: {guest_name}, {organization}, {listing}" in message
    with pytest.raises(ValidationError):
        services.template_save(template=bad)
    assert not MessageTemplate.objects.exists()
    with pytest.raises(ValidationError) as subject:
        services.template_save(template=template(org_a, subject="Code {pin}"))
    assert "subject" in subject.value.message_dict


def form_data(org, **fields):
    data = {
        "organization": org.organization.pk,
        "listing": "",
        "kind": Kind.CODE,
        "language": "en",
        "send_hours_before": "48",
        "subject": "Codes for {listing}",
        "body": "Hello {guest_name}\n{doors}",
        "active": "on",
    }
    data.update(fields)
    return data


def test_the_admin_form_refuses_an_unknown_placeholder_naming_the_valid_ones(
    manager_client, org_a
):
    url = reverse("admin:guests_messagetemplate_add")
    page = manager_client.get(url).content.decode()
    for name in PLACEHOLDERS:  # listed beside the form
        assert "{" + name + "}" in page
    response = manager_client.post(url, form_data(org_a, body="Hi {guest_nam}"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["body"]
    assert "Unknown placeholder {guest_nam}." in errors[0]
    assert "{guest_name}" in errors[0]
    assert not MessageTemplate.objects.exists()
    # Alpha Guest checks in within the 48 hours: the save is confirmed (see below).
    response = manager_client.post(url, form_data(org_a, email_now="on"))
    assert response.status_code == 302
    assert MessageTemplate.objects.get().send_hours_before == 48


def test_the_admin_form_refuses_a_body_longer_than_a_message(manager_client, org_a):
    url = reverse("admin:guests_messagetemplate_add")
    response = manager_client.post(url, form_data(org_a, body="{guest_name} " + "x" * 10_000))
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["body"]
    assert "at most 10000 characters" in error
    assert not MessageTemplate.objects.exists()


def test_a_change_message_has_no_send_time_and_one_template_per_kind(org_a):
    with pytest.raises(ValidationError) as refused:
        services.template_save(
            template=MessageTemplate(
                organization=org_a.organization,
                kind=Kind.CHANGED,
                subject="Changed",
                body="{changes}",
                send_hours_before=4,
            )
        )
    assert "send_hours_before" in refused.value.message_dict
    services.template_save(template=template(org_a))
    with pytest.raises(ValidationError):
        services.template_save(template=template(org_a))


def test_staff_read_templates_and_only_managers_write_them(client, org_a):
    saved = services.template_save(template=template(org_a))
    client.force_login(org_a.staff)
    assert client.get(reverse("admin:guests_messagetemplate_changelist")).status_code == 200
    assert client.get(reverse("admin:guests_messagetemplate_add")).status_code == 403
    url = reverse("admin:guests_messagetemplate_change", args=[saved.pk])
    assert client.post(url, form_data(org_a, subject="Staff's")).status_code == 403
    saved.refresh_from_db()
    assert saved.subject == "Codes for {listing}"


# --------------------------------------------------------------------------- preview


def test_the_preview_renders_a_template_for_a_reservation_of_its_organization(
    ny, committed, client, smtp, org_b
):
    reservation = book(ny, committed)
    side_door_own_code(ny, committed, reservation)
    saved = services.template_save(
        template=MessageTemplate(
            organization=ny.listing.organization,
            kind=Kind.CODE,
            subject="{guest_name} at {property}",
            body="In: {check_in}\n{doors}\n{check_in_instructions}\n{guest_link}",
        )
    )
    url = reverse("admin:guests_messagetemplate_preview", args=[saved.pk])
    for who in ("manager", "staff"):
        client.force_login(ny.listing.organization.memberships.get(role=who).user)
        chooser = client.get(url).content.decode()
        assert f'<option value="{reservation.pk}"' in chooser
        # The picker's dates are the stay's own (New York), zone named, not UTC's.
        assert "Maria Silva — Alpha Flat — check-in 2027-03-15 15:00 EDT" in chooser
        page = client.get(url, {"reservation": reservation.pk}).content.decode()
        assert "Maria Silva at Alpha House" in page
        assert "In: Monday 15 March 2027, 15:00 EDT (America/New_York)" in page
        assert f"- Garden Gate: {reservation.code.value}" in page
        assert f"- Side Door: {SIDE_CODE} (this door has its own code)" in page
        assert "Park in bay 4" in page
        assert "https://keystay.example.com/g/" in page
    # Nothing was sent or recorded by previewing.
    assert smtp.envelopes == [] and not reservation.guest_messages.exists()
    # Another organization's reservation is not previewed; nor is this template seen
    # from another organization.
    assert client.get(url, {"reservation": org_b.reservation.pk}).status_code == 404
    client.force_login(org_b.manager)
    assert client.get(url).status_code == 404


def test_keystays_own_wording_is_used_without_a_template(ny, committed, smtp):
    reservation = book(ny, committed)
    composed = compose(reservation, Kind.CODE)
    assert composed.template is None
    assert composed.subject == f"Your door codes for {ny.listing.name}"
    assert "12 Hudson Street, New York" in composed.body
    assert f"- Garden Gate: {reservation.code.value}" in composed.body


def test_saving_a_send_time_that_emails_guests_at_once_asks_first(manager_client, org_a):
    """Alpha Guest checks in within 48 h: a 48-hour door-code template would email them the
    moment it is saved. The form says so and saves only once ticked."""
    from guests.models import GuestMessage

    url = reverse("admin:guests_messagetemplate_add")
    response = manager_client.post(url, form_data(org_a))
    assert response.status_code == 200
    [error] = response.context["adminform"].form.errors["email_now"]
    assert "Saving emails 1 guest whose check-in is within 48 h their door codes now" in error
    assert not MessageTemplate.objects.exists()
    assert not GuestMessage.objects.exists()

    response = manager_client.post(url, form_data(org_a, email_now="on"))
    assert response.status_code == 302
    assert MessageTemplate.objects.get().send_hours_before == 48


def test_a_send_time_that_reaches_no_one_now_saves_without_asking(manager_client, org_a):
    response = manager_client.post(
        reverse("admin:guests_messagetemplate_add"), form_data(org_a, send_hours_before="24")
    )
    assert response.status_code == 302
    assert MessageTemplate.objects.get().send_hours_before == 24
