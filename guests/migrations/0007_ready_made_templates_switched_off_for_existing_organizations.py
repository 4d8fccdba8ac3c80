"""Organizations that existed before the ready-made templates get them switched off: their
guests are told nothing new until a manager switches them on (the dashboard says they
exist)."""

from django.db import migrations


def add_switched_off(apps, schema_editor):
    from guests.defaults import missing_ready_made

    Organization = apps.get_model("properties", "Organization")
    MessageTemplate = apps.get_model("guests", "MessageTemplate")
    for organization_id in Organization.objects.values_list("pk", flat=True):
        MessageTemplate.objects.bulk_create(
            MessageTemplate(
                organization_id=organization_id,
                listing=None,
                active=False,
                is_default=True,
                **fields,
            )
            for fields in missing_ready_made(organization_id, model=MessageTemplate)
        )


def remove_unchanged(apps, schema_editor):
    MessageTemplate = apps.get_model("guests", "MessageTemplate")
    MessageTemplate.objects.filter(is_default=True, active=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("guests", "0006_message_template_ready_made_flag"),
        ("properties", "0010_organization_and_listing_guest_language"),
    ]

    operations = [migrations.RunPython(add_switched_off, remove_unchanged)]
