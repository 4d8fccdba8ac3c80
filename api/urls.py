from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import views, webhooks

app_name = "api"

router = DefaultRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("devices", views.DeviceViewSet, basename="device")
router.register("properties", views.PropertyViewSet, basename="property")
router.register("listings", views.ListingViewSet, basename="listing")
router.register("assignments", views.AssignmentViewSet, basename="assignment")
router.register("reservations", views.ReservationViewSet, basename="reservation")
router.register("overrides", views.OverrideViewSet, basename="override")
router.register("events", views.EventViewSet, basename="event")
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("webhook-endpoints", webhooks.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", webhooks.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = [
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # HTML pages: OPTIONS answers 405, as POST does. DRF's description of a view would be
    # rendered by the page's template renderer, which has no template for it (a 500).
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", metadata_class=None),
        name="docs",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", metadata_class=None),
        name="redoc",
    ),
]
