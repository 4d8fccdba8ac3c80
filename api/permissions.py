"""Who may do what through the API: the same roles as the admin.

Every queryset is first narrowed to the caller's organizations (another organization's
object is a 404). On what remains, members read; managers write organization settings
(properties, listings, assignments, connections); staff also write reservations and
their overrides, as they do in the admin.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from core import access


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
        if self._writes_need_manager(view):
            return access.can_manage(user)
        return access.can_view(user)

    def has_object_permission(self, request, view, obj) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return access.can_view(user, obj)
        if self._writes_need_manager(view):
            return access.can_manage(user, obj)
        return access.can_view(user, obj)
