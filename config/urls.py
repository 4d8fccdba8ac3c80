from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Keystay"
admin.site.site_title = "Keystay"
admin.site.index_title = "Door codes for every stay"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/smart-devices/", include("locks.urls")),
    path("admin/", admin.site.urls),
]
