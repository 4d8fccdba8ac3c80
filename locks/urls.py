"""Settings → Connections → Smart Devices, mounted under /admin/smart-devices/."""

from django.contrib import admin
from django.urls import path

from . import leftover_views, views

app_name = "smart_devices"

# admin_view: staff sign-in required, CSRF-protected, never cached, in the admin's look.
urlpatterns = [
    path("", admin.site.admin_view(views.smart_devices), name="list"),
    path("add/", admin.site.admin_view(views.connection_add), name="add"),
    path("<int:pk>/import/", admin.site.admin_view(views.connection_import), name="import"),
    path("<int:pk>/connect/", admin.site.admin_view(views.connection_connect), name="connect"),
    path("<int:pk>/return/", admin.site.admin_view(views.connection_return), name="return"),
    path("<int:pk>/assign/", admin.site.admin_view(views.connection_assign), name="assign"),
    path("<int:pk>/webhook/", admin.site.admin_view(views.connection_webhook), name="webhook"),
    path("leftovers/", admin.site.admin_view(leftover_views.leftovers), name="leftovers"),
    path(
        "leftovers/match/",
        admin.site.admin_view(leftover_views.leftovers_match),
        name="leftovers_match",
    ),
    path(
        "leftovers/mark/",
        admin.site.admin_view(leftover_views.leftovers_mark_view),
        name="leftovers_mark",
    ),
    path(
        "leftovers/remove/",
        admin.site.admin_view(leftover_views.leftovers_remove),
        name="leftovers_remove",
    ),
]
