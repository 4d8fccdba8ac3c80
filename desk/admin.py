"""The front desk's records in the admin: members of the organization read them, nobody
edits them (the services write them)."""

from django.contrib import admin

from core.admin_scoping import ReadOnlyScopedAdmin

from .models import CodeDisclosure, CodeLookup


@admin.register(CodeLookup)
class CodeLookupAdmin(ReadOnlyScopedAdmin):
    list_display = ["at", "user", "organization", "found_count", "refused"]
    list_filter = ["refused"]
    list_select_related = ["user", "organization"]
    date_hierarchy = "at"
    fields = ["at", "user", "organization", "refused", "found_count", "found"]
    readonly_fields = fields


@admin.register(CodeDisclosure)
class CodeDisclosureAdmin(ReadOnlyScopedAdmin):
    list_display = ["at", "user", "action", "guest", "door"]
    list_filter = ["action"]
    list_select_related = ["user", "reservation", "access__device"]
    search_fields = ["reservation__guest_name", "user__username"]
    date_hierarchy = "at"
    fields = ["at", "user", "action", "reservation", "access"]
    readonly_fields = fields

    @admin.display(description="guest", ordering="reservation__guest_name")
    def guest(self, obj):
        return obj.reservation.guest_name

    @admin.display(description="door")
    def door(self, obj):
        return obj.access.device.name if obj.access_id else "the stay's code"
