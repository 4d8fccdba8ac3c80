from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView

from desk.views import sign_in
from guests.views import guest_link_regenerate, guest_page
from properties.views import invitation_accept
from reservations import feed, timeline_views, webhooks
from reservations.views import alert_acknowledge_view, dashboard

admin.site.site_header = "Keystay"
admin.site.site_title = "Keystay"
admin.site.index_title = "Door codes for every stay"
# "View site" opens what a member looks at first: the dashboard.
admin.site.site_url = reverse_lazy("dashboard")

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on pages without an icon link (the API's JSON, say).
    path("favicon.ico", lambda request: redirect(static("keystay/favicon.svg"))),
    path("admin/smart-devices/", include("locks.urls")),
    path("admin/dashboard/", admin.site.admin_view(dashboard), name="dashboard"),
    # Staff land on the front desk after signing in (desk.views.sign_in).
    path("admin/login/", sign_in),
    path("admin/desk/", include("desk.urls")),
    path(
        "admin/dashboard/alerts/<int:pk>/acknowledge/",
        admin.site.admin_view(alert_acknowledge_view),
        name="alert_acknowledge",
    ),
    path(
        "admin/timeline/listing/<int:pk>/",
        admin.site.admin_view(timeline_views.listing_timeline),
        name="listing_timeline",
    ),
    path(
        "admin/timeline/property/<int:pk>/",
        admin.site.admin_view(timeline_views.property_timeline),
        name="property_timeline",
    ),
    path("admin/activity/", admin.site.admin_view(feed.activity_feed), name="activity_feed"),
    path(
        "admin/guests/link/<int:reservation_id>/regenerate/",
        admin.site.admin_view(guest_link_regenerate),
        name="guest_link_regenerate",
    ),
    path("admin/", admin.site.urls),
    # An invitation link: the invited person signs in (or signs up) and joins.
    path("invitations/<str:token>/", invitation_accept, name="invitation_accept"),
    # The guest's private page: the signed token is the only key (see guests.links).
    path("g/<str:token>/", guest_page, name="guest_page"),
    path("api/", include("api.urls")),
    path("api/auth/", include("rest_framework.urls")),  # browsable API sign-in
    # Seam's webhook deliveries: outside the admin, signed (Svix) instead of signed in.
    path("webhooks/seam/<int:connection_id>/", webhooks.seam_webhook, name="seam_webhook"),
]
