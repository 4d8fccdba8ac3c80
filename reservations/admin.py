import zoneinfo

from django import forms
from django.contrib import admin
from django.utils import timezone

from properties.admin_scoping import OrganizationScopedAdmin

from .models import Reservation


def _in_zone(value, zone: zoneinfo.ZoneInfo):
    """Re-read a wall-clock time the form parsed in the current zone as a time in `zone`.

    Returns None for a time that does not exist there (skipped by a daylight-saving change).
    """
    naive = timezone.make_naive(value, timezone.get_current_timezone())
    aware = naive.replace(tzinfo=zone)
    round_trip = aware.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)
    if round_trip.replace(tzinfo=None) != naive:
        return None
    return aware


class ReservationForm(forms.ModelForm):
    """Check-in and check-out are typed in the property's local time."""

    class Meta:
        model = Reservation
        fields = [
            "listing",
            "guest_name",
            "guest_email",
            "guest_phone",
            "check_in",
            "check_out",
            "status",
            "source",
            "external_id",
        ]
        help_texts = {
            "check_in": "Local time of the listing's property.",
            "check_out": "Local time of the listing's property.",
        }

    def clean(self):
        cleaned = super().clean()
        listing = cleaned.get("listing")
        if listing is None:
            return cleaned
        zone = listing.property.zone
        for name in ("check_in", "check_out"):
            if cleaned.get(name) is None:
                continue
            local = _in_zone(cleaned[name], zone)
            if local is None:
                self.add_error(
                    name,
                    f"This time does not exist in {listing.property.time_zone} "
                    "(the clocks change then).",
                )
            else:
                cleaned[name] = local
                setattr(self.instance, name, local)
        return cleaned


@admin.register(Reservation)
class ReservationAdmin(OrganizationScopedAdmin):
    # Staff look reservations up and change them; deleting stays with managers.
    managers_only = False
    form = ReservationForm
    list_display = [
        "guest_name",
        "listing",
        "property",
        "local_check_in",
        "local_check_out",
        "status",
        "source",
        "external_id",
    ]
    list_filter = [
        "status",
        ("listing__property", admin.RelatedOnlyFieldListFilter),
        ("listing", admin.RelatedOnlyFieldListFilter),
        "source",
        ("check_in", admin.DateFieldListFilter),
    ]
    list_select_related = ["listing__property"]
    search_fields = ["guest_name", "guest_email", "guest_phone", "external_id", "listing__name"]
    autocomplete_fields = ["listing"]
    date_hierarchy = "check_in"
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="property", ordering="listing__property__name")
    def property(self, obj):
        return obj.listing.property

    def _local(self, obj, value):
        return timezone.localtime(value, obj.listing.property.zone).strftime("%Y-%m-%d %H:%M %Z")

    @admin.display(description="check-in (local)", ordering="check_in")
    def local_check_in(self, obj):
        return self._local(obj, obj.check_in)

    @admin.display(description="check-out (local)", ordering="check_out")
    def local_check_out(self, obj):
        return self._local(obj, obj.check_out)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Show and read the times in the property's zone on an existing reservation.
        if object_id:
            obj = self.get_object(request, object_id)
            with timezone.override(obj.listing.property.zone):
                response = super().changeform_view(request, object_id, form_url, extra_context)
                # Render now: a TemplateResponse would otherwise render after the override.
                if hasattr(response, "render"):
                    response.render()
                return response
        return super().changeform_view(request, object_id, form_url, extra_context)
