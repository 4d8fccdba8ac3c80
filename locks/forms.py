"""Forms of the Smart Devices page: they validate input; services do the work."""

from django import forms

from properties.models import Listing, Organization

from .endpoints import validate_endpoint
from .models import Device, LockAssignment, LockProviderConnection
from .providers import ACCESS_CONTROL_PROVIDERS, PIN_LOCK_PROVIDERS


class ConnectionAddForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none())
    name = forms.CharField(
        max_length=200, help_text="How you call this Seam workspace, e.g. “Seam – Lisbon”."
    )
    # Never rendered back: a refused or mistyped key is typed again.
    api_key = forms.CharField(
        label="API key",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A Seam API key of the workspace (Seam Console → Developer → API keys).",
    )
    endpoint = forms.URLField(
        required=False,
        assume_scheme="https",
        validators=[validate_endpoint],
        help_text="Leave empty for Seam's API; set it for a self-hosted or test server.",
    )

    def __init__(self, *args, organizations: list[Organization], **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.queryset = Organization.objects.filter(pk__in=[o.pk for o in organizations])
        if len(organizations) == 1:
            # Nothing to choose: the one organization the person manages.
            field.initial = organizations[0].pk
            field.widget = forms.HiddenInput()
        else:
            field.choices = [("", "---------")] + [(o.pk, o.name) for o in organizations]

    def clean(self):
        cleaned = super().clean()
        organization, name = cleaned.get("organization"), cleaned.get("name")
        if (
            organization
            and name
            and LockProviderConnection.objects.filter(
                organization=organization, name=name
            ).exists()
        ):
            self.add_error("name", f"{organization} already has a connection named “{name}”.")
        return cleaned


class ConnectProviderForm(forms.Form):
    pin_lock_providers = forms.MultipleChoiceField(
        label="PIN-code locks",
        choices=list(PIN_LOCK_PROVIDERS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    access_control_providers = forms.MultipleChoiceField(
        label="Access control",
        choices=list(ACCESS_CONTROL_PROVIDERS.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def clean(self):
        cleaned = super().clean()
        if not self.providers():
            raise forms.ValidationError("Choose at least one provider.")
        return cleaned

    def providers(self) -> list[str]:
        data = getattr(self, "cleaned_data", {})
        return [*data.get("pin_lock_providers", []), *data.get("access_control_providers", [])]


class AssignDevicesForm(forms.Form):
    """Several devices of one connection to one listing of its organization.

    Choices come from rows the page has already loaded, so that rendering one form per
    connection costs no query.
    """

    devices = forms.TypedMultipleChoiceField(
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Tick at least one device."},
    )
    listing = forms.TypedChoiceField(coerce=int)
    role = forms.ChoiceField(
        choices=LockAssignment.Role.choices, initial=LockAssignment.Role.SECONDARY
    )
    guest_access = forms.BooleanField(
        required=False, initial=True, help_text="Guests' codes are put on these locks."
    )
    staff_access = forms.BooleanField(
        required=False,
        initial=False,
        help_text="Crew codes (cleaners, maintenance) are put on these locks.",
    )

    def __init__(self, *args, devices: list[Device], listings: list[Listing], **kwargs):
        super().__init__(*args, **kwargs)
        self._devices = {device.pk: device for device in devices}
        self._listings = {listing.pk: listing for listing in listings}
        self.fields["devices"].choices = [(device.pk, device.name) for device in devices]
        self.fields["listing"].choices = [("", "---------")] + [
            (listing.pk, f"{listing.name} ({listing.property.name})") for listing in listings
        ]

    def clean_devices(self) -> list[Device]:
        return [self._devices[pk] for pk in self.cleaned_data["devices"]]

    def clean_listing(self) -> Listing:
        return self._listings[self.cleaned_data["listing"]]

    def device_checkboxes(self) -> dict[int, object]:
        """Device id → its checkbox, for drawing each one in its row of the device table."""
        return {int(widget.data["value"]): widget for widget in self["devices"]}
