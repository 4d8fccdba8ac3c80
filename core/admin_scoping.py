"""Admin building blocks that keep every page inside the person's organizations.

Scoping a changelist is not enough: foreign-key choices, autocomplete, filters and
direct URLs must all be narrowed, or another organization's rows leak through them.
"""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404

from . import access


class ChecksDatesChangeList(ChangeList):
    """A list whose URL asks for a date that cannot exist (`created_at__year=0`, or 9999
    in the date drill-down, whose year ends in 10000) gets the admin's answer to any bad
    lookup, a redirect to the bare list with ?e=1, rather than a 500. Django checks the
    filters it builds, but these fail later: building the drill-down's range, or turning
    the year into dates when the list is counted."""

    def get_queryset(self, request, exclude_parameters=None):
        try:
            return super().get_queryset(request, exclude_parameters)
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_results(self, request):
        try:
            super().get_results(request)
        except (ValueError, OverflowError) as error:
            raise IncorrectLookupParameters(error) from error


class _CheckedChoices:
    """Django's autocomplete widget, which shows a refused form again without a 500.

    To show the submitted choice again, Django's widget looks the submitted value up as an
    id as it is; a value that is not one ("²", a URL, a number past 64 bits) makes that
    lookup raise, and the page answer 500 instead of "Select a valid choice". Such a value
    is shown as no choice; the field's own message says what is wrong.
    """

    def optgroups(self, name, value, attr=None):
        remote = self.field.remote_field
        # A foreign key names the field it points at; a many-to-many points at the pk.
        field_name = getattr(remote, "field_name", None)
        model_meta = remote.model._meta
        target = model_meta.get_field(field_name) if field_name else model_meta.pk
        return super().optgroups(name, [v for v in value if _is_key(target, v)], attr)


class CheckedAutocompleteSelect(_CheckedChoices, AutocompleteSelect):
    pass


class CheckedAutocompleteSelectMultiple(_CheckedChoices, AutocompleteSelectMultiple):
    """The same for a many-to-many autocomplete (a standing access's doors)."""


def _is_key(target: models.Field, value) -> bool:
    try:
        key = target.to_python(value)
    except (ValidationError, ValueError, TypeError):
        return False
    if isinstance(key, int):
        return -(2**63) <= key < 2**63  # what any database's integer key holds
    return True


class ScopedFormfieldsMixin:
    """Foreign-key choices offer (and accept) only rows of the person's organizations.

    Where a change needs the manager role, choices are narrowed to managed organizations.
    """

    manage_foreign_keys = True

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = CheckedAutocompleteSelect(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = access.scope_queryset(
                formfield.queryset, request.user, manage=self.manage_foreign_keys
            )
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = CheckedAutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OrganizationScopedAdmin(ScopedFormfieldsMixin, admin.ModelAdmin):
    """Members view their organizations' rows; `managers_only` decides who may change.

    Permissions come from membership roles rather than Django's per-model permissions,
    so that giving someone a role is the whole of giving them access.
    """

    managers_only = True
    list_per_page = 50
    list_max_show_all = 1000

    def get_changelist(self, request, **kwargs):
        return ChecksDatesChangeList

    def get_changeform_initial_data(self, request):
        """The organization comes preselected when the person has one to choose from (the
        form offered an empty choice first, to a person who has no other)."""
        initial = super().get_changeform_initial_data(request)
        field_names = {field.name for field in self.model._meta.get_fields()}
        if "organization" in field_names:
            choices = (
                access.managed_organization_ids(request.user)
                if self.manage_foreign_keys
                else access.member_organization_ids(request.user)
            )
            if len(choices) == 1:
                initial.setdefault("organization", next(iter(choices)))
        return initial

    def get_queryset(self, request):
        return access.scope_queryset(super().get_queryset(request), request.user)

    def get_object(self, request, object_id, from_field=None):
        # Another organization's object (or a missing one) is a plain 404: the admin's
        # default redirect-with-message would confirm nothing, but a 404 is the clearer
        # contract for a direct URL.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object in your organizations.")
        return obj

    def has_module_permission(self, request):
        return access.can_view(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_view(request.user, obj)

    def _can_write(self, request, obj=None) -> bool:
        if self.managers_only:
            return access.can_manage(request.user, obj)
        return access.can_view(request.user, obj)

    def has_add_permission(self, request):
        return self._can_write(request)

    def has_change_permission(self, request, obj=None):
        return self._can_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)

    @property
    def manage_foreign_keys(self) -> bool:  # type: ignore[override]
        return self.managers_only


class ManagerOnlyInline(ScopedFormfieldsMixin):
    """An inline that staff see read-only and managers edit; `obj` is the parent."""

    def has_view_permission(self, request, obj=None):
        return access.can_view(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)

    def has_change_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        return access.can_manage(request.user, obj)


class ReadOnlyScopedAdmin(OrganizationScopedAdmin):
    """What Seam reported or Keystay derived: members look, nobody edits."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SecretShownOnceAdmin(OrganizationScopedAdmin):
    """Adding a row whose secret (an API key, a webhook secret) appears once, on the page
    that follows the save: the add form offers no "save and add another" or "save and continue",
    which would skip that page."""

    def add_view(self, request, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
        }
        return super().add_view(request, form_url, extra_context)
