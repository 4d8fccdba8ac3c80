from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from reservations.views import dashboard

admin.site.site_header = "Keystay"
admin.site.site_title = "Keystay"
admin.site.index_title = "Door codes for every stay"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/smart-devices/", include("locks.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="dashboard"),
    path("admin/", admin.site.urls),
]
