"""List pages on a large organization: queries per page and median milliseconds, each
beside a plain baseline of the same model measured in the same run.

Baselines: for the admin, a plain `ModelAdmin` on a throwaway AdminSite mounted by this
module only (never in the product): Django's defaults, with the product's page size, and
for reservations its search fields and date hierarchy; the list shows the model's own
columns, and a reservation's listing is read with it (the row's checkbox label is the
reservation's name, which names its listing: a query per row otherwise). For the API, a
plain DRF list of the same model (every field, the same page size). The product pages are
read by the organization's manager (scoped to the organization), the baselines by a
superuser (unscoped; the database holds one large organization and a small one).

Used by `bench/scale.py`; urlpatterns here are the product's plus the baselines'.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import include, path
from rest_framework import generics, pagination, serializers

from config.urls import urlpatterns as product_urlpatterns
from locks.models import Device
from properties.models import Listing
from reservations.admin import ReservationAdmin
from reservations.models import Reservation

PAGE = 50

plain_site = admin.AdminSite(name="plain")


@admin.register(Reservation, site=plain_site)
class PlainReservationAdmin(admin.ModelAdmin):
    list_display = ["guest_name", "check_in", "check_out", "status", "source", "external_id"]
    # The changelist writes each row's name (its listing's) into its checkbox's label.
    list_select_related = ["listing"]
    list_per_page = PAGE
    search_fields = ReservationAdmin.search_fields
    date_hierarchy = ReservationAdmin.date_hierarchy


@admin.register(Listing, site=plain_site)
class PlainListingAdmin(admin.ModelAdmin):
    list_per_page = PAGE


@admin.register(Device, site=plain_site)
class PlainDeviceAdmin(admin.ModelAdmin):
    list_per_page = PAGE


class _Page(pagination.PageNumberPagination):
    page_size = PAGE


def _plain_list(model_class):
    class Serializer(serializers.ModelSerializer):
        class Meta:
            model = model_class
            fields = "__all__"

    return generics.ListAPIView.as_view(
        queryset=model_class.objects.order_by("-pk"),
        serializer_class=Serializer,
        pagination_class=_Page,
        filter_backends=[],
        throttle_classes=[],
    )


urlpatterns = [
    path("bench-plain/admin/", plain_site.urls),
    path(
        "bench-plain/api/",
        include(
            [
                path("reservations/", _plain_list(Reservation)),
                path("listings/", _plain_list(Listing)),
                path("devices/", _plain_list(Device)),
            ]
        ),
    ),
    *product_urlpatterns,
]


@dataclass
class Figure:
    page: str
    queries: int
    median_ms: float
    plain_queries: int | None = None
    plain_ms: float | None = None
    # This process's CPU time for the page (median): on SQLite the database's work too.
    # On a machine shared with other work, wall time waits for a core; this does not.
    cpu_ms: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.median_ms / self.plain_ms if self.plain_ms else None


def _get(client: Client, url: str, headers: dict, cpu: list | None = None) -> tuple[int, float]:
    with CaptureQueriesContext(connection) as captured:
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, **headers)
        if hasattr(response, "render"):
            response.render()
        elapsed = (time.perf_counter() - start) * 1000
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured.captured_queries), elapsed


def _measure_pair(product, url, headers, plain, plain_url, runs):
    """Product and baseline one after the other, `runs` times: both see the same load."""
    _get(product, url, headers)  # warm-up: caches, the first connection
    if plain_url:
        _get(plain, plain_url, {})
    mine, theirs, queries, plain_queries, cpu = [], [], 0, None, []
    for _ in range(runs):
        queries, ms = _get(product, url, headers, cpu)
        mine.append(ms)
        if plain_url:
            plain_queries, ms = _get(plain, plain_url, {})  # the baseline API reads the session
            theirs.append(ms)
    return (
        queries,
        statistics.median(mine),
        plain_queries,
        (statistics.median(theirs) if theirs else None),
        statistics.median(cpu),
    )


def pages(seeded) -> list[tuple[str, str, str | None, dict]]:
    """(name, product URL, baseline URL or None, headers) of every measured page."""
    listing = seeded.organization.listings.order_by("pk")[7]
    guest = seeded.organization.reservations.order_by("pk").values_list("guest_name", flat=True)[
        1234 % seeded.counts["reservations"]
    ]
    stay = seeded.organization.reservations.order_by("pk")[4321 % seeded.counts["reservations"]]
    phone = stay.guest_phone[-7:]
    code = seeded.sample_code
    now = seeded.now
    api = {"HTTP_AUTHORIZATION": f"Bearer {seeded.api_key}"}
    middle = max(1, seeded.counts["reservations"] // PAGE // 2)
    month = f"check_in__year={now.year}&check_in__month={now.month}"
    rsv, plain_rsv = (
        "/admin/reservations/reservation/",
        "/bench-plain/admin/reservations/reservation/",
    )
    return [
        ("admin reservations", rsv, plain_rsv, {}),
        (f"  search a guest ({guest!r})", f"{rsv}?q={guest}", f"{plain_rsv}?q={guest}", {}),
        ("  search a surname", f"{rsv}?q=Sousa", f"{plain_rsv}?q=Sousa", {}),
        (
            "  search a listing name",
            f"{rsv}?q={listing.name}",
            f"{plain_rsv}?q={listing.name}",
            {},
        ),
        ("  date hierarchy: a month", f"{rsv}?{month}", f"{plain_rsv}?{month}", {}),
        (
            "  date hierarchy: a year",
            f"{rsv}?check_in__year={now.year}",
            f"{plain_rsv}?check_in__year={now.year}",
            {},
        ),
        ("  filter: failing locks", f"{rsv}?codes=failing", None, {}),
        (f"  page {middle}", f"{rsv}?p={middle}", f"{plain_rsv}?p={middle}", {}),
        (
            "admin listings",
            "/admin/properties/listing/",
            "/bench-plain/admin/properties/listing/",
            {},
        ),
        ("admin devices", "/admin/locks/device/", "/bench-plain/admin/locks/device/", {}),
        ("API reservations", "/api/v1/reservations/", "/bench-plain/api/reservations/", api),
        ("API listings", "/api/v1/listings/", "/bench-plain/api/listings/", api),
        ("API devices", "/api/v1/devices/", "/bench-plain/api/devices/", api),
        ("dashboard", "/admin/dashboard/", None, {}),
        ("front desk", "/admin/desk/", None, {}),
        (f"  search box: a guest ({guest!r})", f"/admin/desk/search/?q={guest}", None, {}),
        ("  search box: a surname", "/admin/desk/search/?q=Sousa", None, {}),
        (f"  search box: phone digits ({phone})", f"/admin/desk/search/?q={phone}", None, {}),
        ("  search box: an exact door code", f"/admin/desk/search/?q={code}", None, {}),
    ]


def measure(seeded, *, superuser, runs: int = 5, echo=print, only=None) -> list[Figure]:
    """Every page of `pages()` (or those whose name starts with one of `only`) and its
    baseline, `runs` times each (median)."""
    product, plain = Client(), Client()
    product.force_login(seeded.manager)
    plain.force_login(superuser)
    figures = []
    # The bench looks one code up many times: the per-person limit would refuse it.
    with override_settings(ROOT_URLCONF=__name__, CODE_LOOKUP_RATE="100000/minute"):
        for name, url, plain_url, headers in pages(seeded):
            if only and not any(name.strip().startswith(prefix) for prefix in only):
                continue
            figure = Figure(name, *_measure_pair(product, url, headers, plain, plain_url, runs))
            figures.append(figure)
            if echo:
                echo(format_figure(figure))
    return figures


HEADER = f"  {'page':<44}{'queries':>8}{'median':>11}{'plain':>16}{'ratio':>8}{'cpu':>10}"


def format_figure(figure: Figure) -> str:
    plain = (
        f"{figure.plain_queries:>4} q {figure.plain_ms:7.1f} ms"
        if figure.plain_ms is not None
        else " " * 16
    )
    ratio = f"{figure.ratio:7.2f}x" if figure.ratio is not None else " " * 8
    cpu = f"{figure.cpu_ms:7.1f} ms" if figure.cpu_ms is not None else ""
    return f"  {figure.page:<44}{figure.queries:>8}{figure.median_ms:8.1f} ms{plain}{ratio}{cpu}"
