from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.db.models import Count

from .admin_scoping import OrganizationScopedAdmin
from .models import Membership, Organization, Property


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    ordering = ["name"]
    list_display = ["name", "member_count", "property_count", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _members=Count("memberships", distinct=True),
                _properties=Count("properties", distinct=True),
            )
        )

    @admin.display(description="members", ordering="_members")
    def member_count(self, obj):
        return obj._members

    @admin.display(description="properties", ordering="_properties")
    def property_count(self, obj):
        return obj._properties

    def has_add_permission(self, request):
        # New organizations come from `manage.py create_organization` or a superuser.
        return request.user.is_superuser


class MembershipForm(forms.ModelForm):
    """Managers add people by username: the user list of the whole site is not theirs."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False, help_text="For a new person only.")
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Initial password, for a new person only.",
    )

    class Meta:
        model = Membership
        fields = ["organization", "role"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["username"].initial = self.instance.user.username
            self.fields["username"].disabled = True
            for name in ("email", "password"):
                del self.fields[name]

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            return cleaned
        user_model = get_user_model()
        username = cleaned.get("username")
        user = user_model.objects.filter(username=username).first() if username else None
        if user is None and username:
            if not cleaned.get("password"):
                self.add_error("password", "A new person needs an initial password.")
            else:
                try:
                    validate_password(cleaned["password"], user_model(username=username))
                except forms.ValidationError as error:
                    self.add_error("password", error)
        elif (
            user is not None
            and cleaned.get("organization")
            and Membership.objects.filter(user=user, organization=cleaned["organization"]).exists()
        ):
            self.add_error("username", "This person is already a member.")
        self._user = user
        return cleaned

    def save(self, commit=True):
        if not self.instance.pk:
            user = self._user
            if user is None:
                user = get_user_model().objects.create_user(
                    username=self.cleaned_data["username"],
                    email=self.cleaned_data.get("email", ""),
                    password=self.cleaned_data["password"],
                    is_staff=True,
                )
            elif not user.is_staff:
                user.is_staff = True
                user.save(update_fields=["is_staff"])
            self.instance.user = user
        return super().save(commit)


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin):
    form = MembershipForm
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "role"]
    list_select_related = ["user", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]


@admin.register(Property)
class PropertyAdmin(OrganizationScopedAdmin):
    ordering = ["name"]
    list_display = [
        "name",
        "organization",
        "time_zone",
        "check_in_time",
        "check_out_time",
        "listing_count",
    ]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "time_zone"]
    list_select_related = ["organization"]
    search_fields = ["name", "address"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_listings=Count("listings"))

    @admin.display(description="listings", ordering="_listings")
    def listing_count(self, obj):
        return obj._listings
