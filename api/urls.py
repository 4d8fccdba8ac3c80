from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import calendar_feeds, outgoing_webhooks, standing, views

app_name = "api"

# The docs pages may load only what this site serves. Swagger UI and ReDoc come from its
# static files (drf-spectacular-sidecar); this header also stops what their scripts would
# fetch by themselves (ReDoc's Redocly logo from its CDN): no call leaves the reader's
# browser for another host, and the pages work with no internet. The inline scripts and
# styles are drf-spectacular's templates; ReDoc's search runs in a worker made from a blob.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'self'; form-action 'self'"
)


class _SameSiteOnly:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class DocsView(_SameSiteOnly, SpectacularSwaggerView):
    pass


class RedocView(_SameSiteOnly, SpectacularRedocView):
    pass


router = DefaultRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("devices", views.DeviceViewSet, basename="device")
router.register("properties", views.PropertyViewSet, basename="property")
router.register("listings", views.ListingViewSet, basename="listing")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("reservations", views.ReservationViewSet, basename="reservation")
router.register("overrides", views.OverrideViewSet, basename="override")
router.register("calendar-feeds", calendar_feeds.CalendarFeedViewSet, basename="calendar-feed")
router.register("events", views.EventViewSet, basename="event")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("crew-members", views.CrewMemberViewSet, basename="crew-member")
router.register("turnovers", views.TurnoverViewSet, basename="turnover")
router.register("standing-accesses", standing.StandingAccessViewSet, basename="standing-access")
router.register("code-clearances", standing.CodeClearanceViewSet, basename="code-clearance")
router.register(
    "webhook-endpoints", outgoing_webhooks.WebhookEndpointViewSet, basename="webhook-endpoint"
)
router.register(
    "webhook-deliveries", outgoing_webhooks.WebhookDeliveryViewSet, basename="webhook-delivery"
)

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # HTML pages: OPTIONS answers 405, as POST does. DRF's description of a view would be
    # rendered by the page's template renderer, which has no template for it (a 500).
    path(
        "docs/",
        DocsView.as_view(url_name="api:schema", metadata_class=None),
        name="docs",
    ),
    path(
        "redoc/",
        RedocView.as_view(url_name="api:schema", metadata_class=None),
        name="redoc",
    ),
]
