"""Turnovers, and a lock access's holder: a stay or a turnover.

`LockAccess.reservation` becomes nullable beside a new `turnover`, and the constraint
`lock_access_one_holder` keeps exactly one of them set. Existing rows need no data
migration: every one of them already names its reservation and no turnover, which is
what the constraint asks of a stay's code (PostgreSQL and SQLite check it against them
when it is added). `Reservation.early_access_from` records a unit ready early.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('locks', '0010_unmanaged_code_lookup_digest'),
        ('properties', '0011_crew_members_and_listing_turnover_settings'),
        ('reservations', '0018_guest_search_text_and_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='reservation',
            name='early_access_from',
            field=models.DateTimeField(blank=True, editable=False, help_text="The unit was ready early: the guest's code works from this instant.", null=True),
        ),
        migrations.AlterField(
            model_name='lockaccess',
            name='reservation',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='lock_accesses', to='reservations.reservation'),
        ),
        migrations.CreateModel(
            name='Turnover',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('starts_at', models.DateTimeField(editable=False)),
                ('ends_at', models.DateTimeField(editable=False)),
                ('state', models.CharField(choices=[('planned', 'Planned'), ('started', 'Started'), ('done', 'Done — unit ready'), ('cancelled', 'Cancelled')], default='planned', max_length=16)),
                ('impossible', models.BooleanField(default=False, editable=False)),
                ('code_ciphertext', models.TextField(blank=True, editable=False)),
                ('code_digest', models.CharField(blank=True, db_index=True, default='', editable=False, max_length=64)),
                ('link_key', models.CharField(blank=True, editable=False, max_length=64)),
                ('notified_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('started_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('done_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('done_by', models.CharField(blank=True, editable=False, max_length=200)),
                ('early_check_in_from', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('after_stay', models.OneToOneField(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='turnover', to='reservations.reservation')),
                ('assignee', models.ForeignKey(blank=True, help_text="Who cleans. New turnovers go to the listing's default crew member.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='turnovers', to='properties.crewmember')),
                ('listing', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='turnovers', to='properties.listing')),
                ('next_stay', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='reservations.reservation')),
                ('organization', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='properties.organization')),
            ],
            options={
                'ordering': ['starts_at'],
            },
            bases=(core.crypto.CodeDigests, models.Model),
        ),
        migrations.AddField(
            model_name='lockaccess',
            name='turnover',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='lock_accesses', to='reservations.turnover'),
        ),
        migrations.AddField(
            model_name='lockevent',
            name='turnover',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='lock_events', to='reservations.turnover'),
        ),
        migrations.AddConstraint(
            model_name='lockaccess',
            constraint=models.UniqueConstraint(fields=('turnover', 'device'), name='lock_access_one_per_turnover_device'),
        ),
        migrations.AddConstraint(
            model_name='lockaccess',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('reservation__isnull', False), ('turnover__isnull', True)), models.Q(('reservation__isnull', True), ('turnover__isnull', False)), _connector='OR'), name='lock_access_one_holder'),
        ),
        migrations.AddIndex(
            model_name='turnover',
            index=models.Index(fields=['organization', 'starts_at'], name='turnover_org_start'),
        ),
        migrations.AddIndex(
            model_name='turnover',
            index=models.Index(fields=['listing', 'starts_at'], name='turnover_listing_start'),
        ),
        migrations.AddConstraint(
            model_name='turnover',
            constraint=models.CheckConstraint(condition=models.Q(('ends_at__gte', models.F('starts_at'))), name='turnover_ends_after_start'),
        ),
        migrations.AddConstraint(
            model_name='turnover',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['planned', 'started', 'done', 'cancelled'])), name='turnover_state_valid'),
        ),
    ]
