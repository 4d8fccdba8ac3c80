"""Who may do what through the API: the same roles as the admin.

Every queryset is first narrowed to the caller's principal (an API key's organization, or
a signed-in person's organizations): another organization's object is a 404. On what
remains, members read; managers write organization settings (properties, listings,
assignments, connections); staff also write reservations and their overrides, as they do
in the admin.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core import access

from .authentication import principal_for


class OrganizationRole(BasePermission):
    message = "Your role in this organization does not allow this change."

    def _writes_need_manager(self, view) -> bool:
        return getattr(view, "managers_write", True)

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in SAFE_METHODS:
            return True
        principal = principal_for(request)
        if self._writes_need_manager(view):
            return access.can_manage(principal)
        return access.can_view(principal)

    def has_object_permission(self, request, view, obj) -> bool:
        principal = principal_for(request)
        if request.method in SAFE_METHODS:
            return access.can_view(principal, obj)
        if self._writes_need_manager(view):
            return access.can_manage(principal, obj)
        return access.can_view(principal, obj)
