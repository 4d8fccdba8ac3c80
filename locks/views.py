"""Settings → Connections → Smart Devices: connect Seam workspaces, import, assign.

Thin views: they parse input with a form, call a service, and render in the admin's look.
Everything is scoped to the person's organizations; changes need the manager role of the
connection's organization (another organization's connection is a 404, staff get a 403).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core import access
from properties.models import Listing, Organization

from . import endpoints
from .forms import AssignDevicesForm, ConnectionAddForm, ConnectProviderForm
from .gateway import ProviderError
from .models import Device, LockAssignment, LockProviderConnection
from .providers import ACCESS_CONTROL_PROVIDERS, PIN_LOCK_PROVIDERS
from .selectors import accounts_to_reconnect
from .services import (
    assignments_create,
    connect_webview_complete_on_fake,
    connect_webview_start,
    connect_webviews_refresh,
    connection_create,
    connection_request_sync,
    webhook_setup,
)

LIST_URL = "smart_devices:list"


def reconnect_html(*, user) -> str:
    """The list of provider accounts whose owner must sign in again, for any page that
    raises them (Smart Devices and the dashboard): a Reconnect button each for a manager of
    its organization; staff, who cannot reconnect, are told who does."""
    accounts = accounts_to_reconnect(user=user)
    managed = access.managed_organization_ids(user)
    for account in accounts:
        account.can_reconnect = user.is_superuser or (
            account.connection.organization_id in managed
        )
    return render_to_string("locks/_reconnect.html", {"reconnect": accounts})


@dataclass
class DeviceRow:
    device: Device
    checkbox: object = None  # the assign form's checkbox, for a manager and a present device


@dataclass
class ConnectionPanel:
    connection: LockProviderConnection
    manageable: bool
    assign_form: AssignDevicesForm | None = None
    rows: list[DeviceRow] = field(default_factory=list)

    @property
    def importing(self) -> bool:
        return self.connection.sync_state in {
            LockProviderConnection.SyncState.QUEUED,
            LockProviderConnection.SyncState.RUNNING,
        }


def _connections(user) -> list[LockProviderConnection]:
    """Every connection the person sees, with accounts, devices and their listings.

    A fixed number of queries, however many connections and devices there are.
    """
    # Present devices first, the ones removed at the provider after them.
    # Each device's organization: its battery threshold decides "low".
    devices = (
        Device.objects.select_related("organization")
        .order_by(F("removed_at").asc(nulls_first=True), "name")
        .prefetch_related(
            Prefetch(
                "assignments",
                LockAssignment.objects.select_related("listing").order_by("role", "listing__name"),
            )
        )
    )
    queryset = (
        LockProviderConnection.objects.select_related("organization")
        .prefetch_related("accounts", Prefetch("devices", devices))
        .order_by("organization__name", "name")
    )
    return list(access.scope_queryset(queryset, user))


def _managed_organizations(user) -> list[Organization]:
    return list(access.scope_queryset(Organization.objects.order_by("name"), user, manage=True))


def _assignable_devices(devices) -> list[Device]:
    return [device for device in devices if device.removed_at is None]


def _listings_of(organization_ids) -> list[Listing]:
    return list(
        Listing.objects.filter(organization_id__in=organization_ids)
        .select_related("property")
        .order_by("name", "property__name")
    )


def _render_list(
    request: HttpRequest,
    *,
    add_form: ConnectionAddForm | None = None,
    assign_form: AssignDevicesForm | None = None,
    assign_connection_id: int | None = None,
) -> TemplateResponse:
    user = request.user
    connections = _connections(user)
    manageable = {c.pk for c in connections if access.can_manage(user, c)}
    listings_by_org: dict[int, list[Listing]] = {}
    for listing in _listings_of({c.organization_id for c in connections if c.pk in manageable}):
        listings_by_org.setdefault(listing.organization_id, []).append(listing)

    panels = []
    for connection in connections:
        devices = list(connection.devices.all())
        panel = ConnectionPanel(connection, manageable=connection.pk in manageable)
        assignable = _assignable_devices(devices)
        if panel.manageable and (assignable or connection.pk == assign_connection_id):
            if connection.pk == assign_connection_id:
                panel.assign_form = assign_form  # bound, with its errors and choices kept
            else:
                panel.assign_form = AssignDevicesForm(
                    prefix=f"assign-{connection.pk}",
                    devices=assignable,
                    listings=listings_by_org.get(connection.organization_id, []),
                )
        checkboxes = panel.assign_form.device_checkboxes() if panel.assign_form else {}
        panel.rows = [DeviceRow(device, checkboxes.get(device.pk)) for device in devices]
        panels.append(panel)

    if add_form is None and access.can_manage(user):
        add_form = ConnectionAddForm(organizations=_managed_organizations(user))
    context = {
        **admin.site.each_context(request),
        "title": "Smart Devices",
        "reconnect_html": reconnect_html(user=user),
        "subtitle": "Settings → Connections",
        "panels": panels,
        "add_form": add_form,
        "refreshing": any(panel.importing for panel in panels),
    }
    return TemplateResponse(request, "locks/smart_devices.html", context)


def _connection_to_manage(request: HttpRequest, pk: int) -> LockProviderConnection:
    """404 outside the person's organizations, 403 without the manager role there."""
    connection = get_object_or_404(
        access.scope_queryset(
            LockProviderConnection.objects.select_related("organization"), request.user
        ),
        pk=pk,
    )
    if not access.can_manage(request.user, connection):
        raise PermissionDenied("Only the organization's managers change its connections.")
    return connection


def _import_told(request: HttpRequest, connection: LockProviderConnection, said: str) -> None:
    """After asking for an import, what became of it: done already (django-q2 ran it
    inline, or a worker was quicker than the redirect), failed, or still to come. The
    page's status says the same; a message saying "importing" over a finished import
    read as stuck."""
    connection.refresh_from_db()
    state = LockProviderConnection.SyncState
    if connection.sync_state == state.OK:
        s = connection.sync_summary or {}
        messages.success(
            request,
            f"{said} Devices imported: {s.get('created', 0)} new, {s.get('updated', 0)} "
            f"updated, {s.get('unchanged', 0)} unchanged, {s.get('removed', 0)} removed at "
            "the provider.",
        )
    elif connection.sync_state == state.FAILED:
        messages.error(request, f"{said} The import failed: {connection.last_sync_error}")
    else:
        messages.info(request, f"{said} Importing its devices; this page shows progress.")


@require_GET
def smart_devices(request: HttpRequest) -> HttpResponse:
    return _render_list(request)


@require_http_methods(["GET", "POST"])
def connection_add(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return redirect(LIST_URL)
    if not access.can_manage(request.user):
        raise PermissionDenied("Only managers add connections.")
    form = ConnectionAddForm(request.POST, organizations=_managed_organizations(request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            connection = connection_create(
                organization=data["organization"],
                name=data["name"],
                api_key=data["api_key"],
                endpoint=data["endpoint"],
            )
        except ProviderError as error:
            # A refused key belongs to the key field; an outage is nobody's typing error.
            key_refused = error.kind in {"unauthorized", "invalid"}
            form.add_error("api_key" if key_refused else None, error.message)
        except ValidationError as error:  # e.g. the same name added meanwhile
            form.add_error(None, error.messages)
        else:
            connection_request_sync(connection=connection)
            _import_told(
                request,
                connection,
                f"Connected to workspace “{connection.workspace_name or connection.workspace_id}”"
                f"{' (sandbox)' if connection.is_sandbox else ''}.",
            )
            return redirect(LIST_URL)
    return _render_list(request, add_form=form)


@require_POST
def connection_import(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_to_manage(request, pk)
    connection_request_sync(connection=connection)
    _import_told(request, connection, f"“{connection}”:")
    return redirect(LIST_URL)


@require_http_methods(["GET", "POST"])
def connection_connect(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _connection_to_manage(request, pk)
    # "Reconnect" on an account that needs it comes with its provider ticked.
    wanted = request.GET.get("provider", "")
    initial = {
        "pin_lock_providers": [wanted] if wanted in PIN_LOCK_PROVIDERS else [],
        "access_control_providers": [wanted] if wanted in ACCESS_CONTROL_PROVIDERS else [],
    }
    form = ConnectProviderForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        return_url = reverse("smart_devices:return", args=[connection.pk])
        try:
            webview = connect_webview_start(
                connection=connection,
                providers=form.providers(),
                redirect_url=request.build_absolute_uri(return_url),
                user=request.user,
            )
        except ProviderError as error:
            messages.error(request, f"Seam could not start the account link: {error.message}")
        else:
            if not endpoints.is_demo_fake(connection.endpoint):
                return redirect(webview.url)
            # The demo's fake Seam server has no sign-in page to send the manager to (its
            # webview URL leads to a browser error): it links a sample account itself.
            try:
                connect_webview_complete_on_fake(webview=webview)
            except ProviderError as error:
                messages.error(
                    request, f"Seam's demo server could not link an account: {error.message}"
                )
            else:
                messages.info(
                    request,
                    "Demo: Seam's fake server has no provider sign-in page, so it linked a "
                    "sample August account itself, as a manager signing in would.",
                )
                return redirect(return_url)
    context = {
        **admin.site.each_context(request),
        "title": f"Connect a provider account to “{connection}”",
        "connection": connection,
        "form": form,
        "demo_fake": endpoints.is_demo_fake(connection.endpoint),
    }
    return TemplateResponse(request, "locks/connect_provider.html", context)


@require_GET
def connection_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Where Seam's Connect Webview sends the manager back."""
    connection = _connection_to_manage(request, pk)
    try:
        refreshed = connect_webviews_refresh(connection=connection)
    except ProviderError as error:
        messages.error(request, f"Could not read the account link back: {error.message}")
        return redirect(LIST_URL)
    linked_ids = [w.provider_account_id for w in refreshed if w.provider_account_id]
    if not linked_ids:
        messages.warning(request, f"No provider account was linked to “{connection}”.")
        return redirect(LIST_URL)
    accounts = connection.accounts.filter(provider_account_id__in=linked_ids)
    described = ", ".join(
        f"{a.user_identifier or a.provider_account_id} ({a.display_name or a.account_type})"
        for a in accounts
    )
    connection_request_sync(connection=connection)
    _import_told(request, connection, f"Linked {described} to “{connection}”.")
    return redirect(LIST_URL)


@require_http_methods(["GET", "POST"])
def connection_assign(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method == "GET":
        return redirect(LIST_URL)
    connection = _connection_to_manage(request, pk)
    form = AssignDevicesForm(
        request.POST,
        prefix=f"assign-{connection.pk}",
        devices=_assignable_devices(connection.devices.all()),
        listings=_listings_of([connection.organization_id]),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            assignments = assignments_create(
                listing=data["listing"],
                devices=data["devices"],
                role=data["role"],
                guest_access=data["guest_access"],
                staff_access=data["staff_access"],
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            role = LockAssignment.Role(data["role"]).label.lower()
            names = ", ".join(a.device.name for a in assignments)
            guests = "guest codes on" if data["guest_access"] else "no guest codes"
            crew = ", crew codes on" if data["staff_access"] else ""
            messages.success(
                request, f"Assigned {names} to {data['listing']} as {role} ({guests}{crew})."
            )
            return redirect(LIST_URL)
    return _render_list(request, assign_form=form, assign_connection_id=connection.pk)


def _webhook_url(request: HttpRequest, connection: LockProviderConnection) -> str:
    """Where Seam should deliver: the site's public address when set, else this request's."""
    path = reverse("seam_webhook", args=[connection.pk])
    public = getattr(settings, "KEYSTAY_PUBLIC_URL", "")
    return f"{public.rstrip('/')}{path}" if public else request.build_absolute_uri(path)


@require_POST
def connection_webhook(request: HttpRequest, pk: int) -> HttpResponse:
    """Have Seam push this connection's lock events to Keystay as they happen."""
    connection = _connection_to_manage(request, pk)
    again = connection.has_webhook
    try:
        webhook_setup(connection=connection, url=_webhook_url(request, connection))
    except ProviderError as error:
        messages.error(request, f"Seam could not set up the webhook: {error.message}")
    else:
        messages.success(
            request,
            f"{'Set up the webhook again' if again else 'Set up the webhook'} for “{connection}”:"
            f" Seam now sends its lock events to {connection.webhook_url}.",
        )
    return redirect(LIST_URL)
