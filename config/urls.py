from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView

from calendar_feeds.demo import DEMO_CALENDAR_PATH, demo_calendar
from desk.views import sign_in
from guests.crew import crew_task_page
from guests.views import guest_link_regenerate, guest_page
from properties.views import invitation_accept, invitation_page
from reservations import feed, timeline_views, webhook_from_seam
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
    # The demo's sample calendar (a 404 outside demo mode): `make run` feeds a listing by it.
    path(DEMO_CALENDAR_PATH, demo_calendar, name="demo_calendar"),
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
        "admin/timeline/",
        admin.site.admin_view(timeline_views.timeline_index),
        name="timeline_index",
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
    # Two-factor sign-in and password reset (properties.account_views).
    path("account/", include("properties.account_urls")),
    # An invitation link: the invited person signs in (or signs up) and joins.
    # Its token moves into the session on the first visit; the page lives on without it.
    path("invitations/<str:token>/", invitation_accept, name="invitation_accept"),
    path("invitations/", invitation_page, name="invitation_page"),
    # The guest's private page: the signed token is the only key (see guests.links).
    path("g/<str:token>/", guest_page, name="guest_page"),
    # A crew member's private task page for one turnover (see guests.crew).
    path("t/<str:token>/", crew_task_page, name="crew_task_page"),
    path("api/", include("api.urls")),
    path("api/auth/", include("rest_framework.urls")),  # browsable API sign-in
    # Seam's webhook deliveries: outside the admin, signed (Svix) instead of signed in.
    # The path stays as it is: Seam workspaces are registered with it.
    path(
        "webhooks/seam/<int:connection_id>/",
        webhook_from_seam.seam_webhook,
        name="seam_webhook",
    ),
    # PMS reservation webhooks (Guesty, Hostaway): verified as each PMS documents it.
    path("webhooks/pms/", include("pms_inbound.urls")),
]
