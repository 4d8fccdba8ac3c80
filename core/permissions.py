"""Django permissions answered from membership roles, for libraries that ask `has_perm`.

Keystay grants access by role (core.access), not by Django's per-model permissions, which
nobody is given. django-import-export asks `user.has_perm("<app>.import_<model>")` and
`"<app>.export_<model>"` (the codes set in settings); this backend answers those two from
roles: taking records away or bringing them in is a manager's decision. Staff and people
of no organization are refused; superusers pass through Django's own backend.
"""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from . import access

# The actions of IMPORT_EXPORT_IMPORT_PERMISSION_CODE and IMPORT_EXPORT_EXPORT_PERMISSION_CODE.
MANAGER_ACTIONS = ("import", "export")


class RolePermissionBackend(BaseBackend):
    """Answers only the import and export permissions; authenticates nobody."""

    def has_perm(self, user_obj, perm, obj=None):
        if not user_obj.is_active or not user_obj.is_staff:
            return False
        _app, _, codename = perm.partition(".")
        action = codename.partition("_")[0]
        return action in MANAGER_ACTIONS and access.can_manage(user_obj, obj)
