"""User tokens are gone (organization API keys replace them): drop their table.

`rest_framework.authtoken` kept every token's key in clear; the app is no longer
installed, so nothing reads the table, and dropping it removes the keys for good. Its rows
in django_migrations go too, so that the database says what it holds (were the app ever
installed again, its migrations would create an empty table). New databases never had
the table: IF EXISTS. Going back creates nothing: the keys are not to come back.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("api", "0001_organization_api_keys")]

    operations = [
        migrations.RunSQL(
            sql=[
                "DROP TABLE IF EXISTS authtoken_token",
                "DELETE FROM django_migrations WHERE app = 'authtoken'",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
