"""Cap a property's address at 500 characters and a listing's check-in instructions at
5,000, the text guest messages quote (a message's size is bounded from these caps).

Existing rows over a cap are cut to it: the first 500 (or 5,000) characters are kept and
the rest is dropped. Each cut row is logged (its table and id, never its text) on the
`properties.migrations` logger, so whoever migrates sees what was shortened and can
restore the rest by hand from a backup. Reversing keeps the shortened text.
"""

import logging

from django.db import migrations, models
from django.db.models.functions import Length

logger = logging.getLogger("properties.migrations")

CAPS = (("Property", "address", 500), ("Listing", "check_in_instructions", 5000))


def cut_to_caps(apps, schema_editor):
    for model_name, field, cap in CAPS:
        model = apps.get_model("properties", model_name)
        over = (
            model.objects.annotate(size=Length(field))
            .filter(size__gt=cap)
            .values_list("pk", field)
        )
        for pk, text in over.iterator():
            model.objects.filter(pk=pk).update(**{field: text[:cap]})
            logger.warning(
                "%s %s: %s cut from %s to %s characters.",
                model_name,
                pk,
                field,
                len(text),
                cap,
            )


class Migration(migrations.Migration):
    dependencies = [
        ("properties", "0007_listing_check_in_instructions"),
    ]

    operations = [
        migrations.RunPython(cut_to_caps, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="listing",
            name="check_in_instructions",
            field=models.TextField(
                blank=True,
                help_text=(
                    "How to get in: parking, which door first, where the key box is. Shown "
                    "to the guest in messages ({check_in_instructions}) and on their guest "
                    "page."
                ),
                max_length=5000,
            ),
        ),
        migrations.AlterField(
            model_name="property",
            name="address",
            field=models.TextField(blank=True, max_length=500),
        ),
    ]
