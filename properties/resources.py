"""Properties and crew members in and out of a spreadsheet, with django-import-export's
preview.

A manager sets up many buildings at once, or keeps a copy of their settings. A row names
its organization; the lookup, and the properties a row may update, are the person's
managed organizations only, so a file cannot reach another organization's rows by naming
them. Rows are checked by the model's own validation (a time zone that is not an IANA
name is refused on its row) before anything is written.
"""

from __future__ import annotations

from import_export import fields

from core import access
from core.exports import FormulaSafeResource, ScopedForeignKeyWidget

from .models import CrewMember, Organization, Property


class ManagedOrganizationResource(FormulaSafeResource):
    """A resource whose rows name their organization: looked up among the organizations
    the person manages, and only their rows may be updated."""

    def __init__(self, *, user=None, **kwargs):
        super().__init__(user=user, **kwargs)
        managed = access.scope_queryset(Organization.objects.all(), user, manage=True)
        self.fields["organization"].widget = ScopedForeignKeyWidget(
            Organization, "name", queryset=managed
        )

    def get_queryset(self):
        # The rows an import may update: a name in another organization is a new row of
        # the person's own, never an edit of someone else's.
        return access.scope_queryset(self._meta.model.objects.all(), self.user, manage=True)


class PropertyResource(ManagedOrganizationResource):
    organization = fields.Field(attribute="organization", column_name="organization")
    name = fields.Field(attribute="name", column_name="name")
    address = fields.Field(attribute="address", column_name="address")
    time_zone = fields.Field(attribute="time_zone", column_name="time zone")
    check_in_time = fields.Field(attribute="check_in_time", column_name="check-in time")
    check_out_time = fields.Field(attribute="check_out_time", column_name="check-out time")

    class Meta:
        model = Property
        fields = (
            "organization",
            "name",
            "address",
            "time_zone",
            "check_in_time",
            "check_out_time",
        )
        export_order = fields
        import_id_fields = ("organization", "name")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True


class CrewMemberResource(ManagedOrganizationResource):
    """A cleaning company's roster at once. A row is found again by its organization and
    name; its kind must be one of Keystay's (cleaner, maintenance, owner, vendor, other),
    checked on its row. Whether a person is active is exported, never imported: a person
    leaves through the crew member's page or the API, which keeps their turnovers'
    record."""

    organization = fields.Field(attribute="organization", column_name="organization")
    name = fields.Field(attribute="name", column_name="name")
    kind = fields.Field(attribute="kind", column_name="kind")
    email = fields.Field(attribute="email", column_name="email")
    phone = fields.Field(attribute="phone", column_name="phone")
    # One of the guests' languages ("pt"), checked on its row; empty: the organization's.
    language = fields.Field(attribute="language", column_name="language")
    active = fields.Field(attribute="active", column_name="active", readonly=True)

    class Meta:
        model = CrewMember
        fields = ("organization", "name", "kind", "email", "phone", "language", "active")
        export_order = fields
        import_id_fields = ("organization", "name")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True
