"""API tokens in the admin, scoped like everything else.

A token acts as its person in every organization they belong to, and whoever creates it
reads its key. So a manager sees, creates and revokes tokens only of people whose every
membership is in organizations they manage (never a superuser's): no token can reach
further than its creator. Superusers see them all. To rotate a token, revoke it and
create a new one.
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.http import Http404
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from core import access
from properties.models import Membership

if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


def token_owners(user):
    """People whose tokens this user may see, create and revoke."""
    people = get_user_model().objects.all()
    if user.is_superuser:
        return people
    managed = access.managed_organization_ids(user)
    elsewhere = Membership.objects.filter(user=OuterRef("pk")).exclude(organization_id__in=managed)
    return (
        people.filter(is_superuser=False, memberships__organization_id__in=managed)
        .exclude(Exists(elsewhere))
        .distinct()
    )


@admin.register(TokenProxy)
class ScopedTokenAdmin(TokenAdmin):
    list_display = ["masked_key", "user", "created"]
    list_select_related = ["user"]
    readonly_fields = ["key", "created"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(user__in=token_owners(request.user))

    def get_object(self, request, object_id, from_field=None):
        # Like every scoped admin: a token that is not yours to see is a plain 404, not
        # the admin's redirect to the index.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such token among the people you manage.")
        return obj

    def get_fields(self, request, obj=None):
        return ["user"] if obj is None else ["user", "key", "created"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = token_owners(request.user).filter(auth_token__isnull=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="key")
    def masked_key(self, obj):
        return f"{obj.key[:4]}…"

    def has_module_permission(self, request):
        return access.can_manage(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_manage(request.user)

    def has_add_permission(self, request):
        return access.can_manage(request.user)

    def has_change_permission(self, request, obj=None):
        return False  # a token is created or revoked, never edited

    def has_delete_permission(self, request, obj=None):
        return access.can_manage(request.user)
