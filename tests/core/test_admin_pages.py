"""Every admin page of every registered model, and every custom admin page, as each role.

Data-driven: the models come from the admin registry and the custom pages from the
URLconf, so a new model or page is covered as soon as it exists. A model (or a URL with
parameters) nobody taught this file to build fails loudly, naming what is missing.

A page never answers 500. Beyond that the role decides: a manager opens every page of
their own organization's objects (200), staff get 403 where they lack the right, and
another organization's object is a 404 for everyone but a superuser.
"""

import datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task
from django_q.signing import SignedPackage

from api.services import api_key_create
from calendar_feeds.models import CalendarFeed
from core.admin_scoping import OrganizationScopedAdmin
from locks.models import LeftoverRemoval, UnmanagedCode
from properties.models import CrewMember
from reservations.models import (
    ClearedCode,
    CodeClearance,
    DeviceAlert,
    LockEvent,
    StandingAccess,
    StandingHours,
    Turnover,
)
from tests.conftest import Org
from tests.factories import UserFactory
from tests.hooks.factories import webhook_delivery, webhook_endpoint
from tests.pms_inbound.factories import pms_connection, pms_delivery

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- one object per model
def _unmanaged_code(org: Org, name: str = "Cleaner"):
    now = timezone.now()
    return UnmanagedCode.objects.create(
        organization=org.organization,
        device=org.device,
        provider_id=f"ac_{org.organization.pk}_{name.lower().replace(' ', '_')}",
        name=name,
        first_seen_at=now,
        last_seen_at=now,
    )


def _leftover_removal(org: Org):
    code = _unmanaged_code(org, name="Old PMS")
    return LeftoverRemoval.objects.create(
        organization=org.organization,
        device=org.device,
        unmanaged_code=code,
        provider_id=code.provider_id,
        code_name=code.name,
        requested_by=org.manager,
        requested_by_name=org.manager.username,
        requested_at=timezone.now(),
        state=LeftoverRemoval.State.FAILED,
        result="Seam refused the request",
    )


def _lock_event(org: Org):
    return LockEvent.objects.create(
        organization=org.organization,
        connection=org.device.connection,
        device=org.device,
        provider_event_id=f"evt_{org.organization.pk}",
        event_type="lock.unlocked",
        kind=LockEvent.Kind.UNLOCKED,
        method=LockEvent.Method.KEYPAD,
        occurred_at=timezone.now(),
        reservation=org.reservation,
        person_name=org.reservation.guest_name,
    )


def _crew_member(org: Org):
    return CrewMember.objects.create(organization=org.organization, name="Rosa")


def _turnover(org: Org):
    stay = org.reservation
    # The stay's own, when an earlier form switched turnovers on for its listing.
    turnover, _ = Turnover.objects.get_or_create(
        after_stay=stay,
        defaults={
            "organization": org.organization,
            "listing": org.listing,
            "starts_at": stay.check_out,
            "ends_at": stay.check_out + datetime.timedelta(hours=4),
            "assignee": _crew_member(org),
        },
    )
    return turnover


def _standing_access(org: Org):
    member, _ = CrewMember.objects.get_or_create(organization=org.organization, name="Rosa")
    standing, _ = StandingAccess.objects.get_or_create(
        organization=org.organization,
        crew_member=member,
        listing=org.listing,
        defaults={"starts_at": timezone.now()},
    )
    StandingHours.objects.get_or_create(
        standing=standing,
        property=org.property,
        defaults={"opens": datetime.time(8), "closes": datetime.time(17)},
    )
    return standing


def _code_clearance(org: Org):
    standing = _standing_access(org)
    clearance = CodeClearance.objects.create(
        organization=org.organization,
        crew_member=standing.crew_member,
        at=timezone.now(),
        by="Ana",
    )
    access = org.reservation.lock_accesses.first()
    if access is not None:  # a report row (any lock access will do for the page)
        ClearedCode.objects.create(
            clearance=clearance,
            access=access,
            device=access.device,
            masked="••••12",
            holder="standing",
        )
    return clearance


def _device_alert(org: Org):
    return DeviceAlert.objects.create(
        organization=org.organization,
        device=org.device,
        kind=DeviceAlert.Kind.OFFLINE,
        message="Lock offline",
        opened_at=timezone.now(),
    )


def _task(success: bool):
    def build(org: Org):
        now = timezone.now()
        return Task.objects.create(
            id=f"{'ok' if success else 'ko'}{org.organization.pk}".ljust(32, "0"),
            name=f"task-{success}-{org.organization.pk}",
            func="math.floor",
            args=(1.5,),
            kwargs={},
            result=1 if success else "Traceback: boom",
            started=now - datetime.timedelta(seconds=1),
            stopped=now,
            success=success,
        )

    return build


def _queued(org: Org):
    package = {"id": "queued", "name": "queued", "func": "math.floor", "args": (1.5,)}
    return OrmQ.objects.create(key="keystay", payload=SignedPackage.dumps(package))


def _invitation(org: Org):
    from properties.services import invitation_create

    return invitation_create(
        organization=org.organization,
        email=f"new-{org.organization.pk}@example.com",
        role="staff",
        invited_by=org.manager,
        base_url="http://testserver",
    ).invitation


def _message_template(org: Org):
    from guests.models import MessageTemplate

    return MessageTemplate.objects.create(
        organization=org.organization, subject="Codes for {listing}", body="{doors}"
    )


def _guest_message(org: Org):
    from guests.models import GuestMessage

    return GuestMessage.objects.create(
        organization=org.organization,
        reservation=org.reservation,
        kind="code",
        trigger=GuestMessage.Trigger.SCHEDULE,
        state=GuestMessage.State.FAILED,
        recipient="guest@example.com",
        attempts=5,
        last_error="SMTPServerDisconnected",
    )


def _failed_sign_in(org: Org):
    from properties.models import FailedSignIn

    return FailedSignIn.objects.create(
        username=org.staff.username,
        ip_address="203.0.113.9",
        user_agent="test",
        failures_since_start=3,
        get_data="",
        post_data="",
        http_accept="",
        path_info="/admin/login/",
    )


def _code_lookup(org: Org):
    from desk.models import CodeLookup

    return CodeLookup.objects.create(
        organization=org.organization, user=org.staff, at=timezone.now(), code_digest="0" * 64
    )


def _code_disclosure(org: Org):
    from desk.models import CodeDisclosure

    return CodeDisclosure.objects.create(
        organization=org.organization,
        reservation=org.reservation,
        user=org.staff,
        action=CodeDisclosure.Action.REVEAL,
        at=timezone.now(),
    )


def _calendar_feed(org):
    # Created without the service: building it must not read the (unreachable) link.
    feed = CalendarFeed(listing=org.listing, channel="airbnb")
    feed.set_url("https://calendar.example.com/ical/listing.ics?s=0123456789abcdef")
    feed.save()
    return feed


# Model label → how to get one object of it in an organization's cast.
BUILDERS = {
    "properties.Organization": lambda org: org.organization,
    "properties.Membership": lambda org: org.organization.memberships.get(user=org.staff),
    "properties.Invitation": _invitation,
    "properties.FailedSignIn": _failed_sign_in,
    "properties.Property": lambda org: org.property,
    "properties.Listing": lambda org: org.listing,
    "properties.CrewMember": _crew_member,
    "locks.LockProviderConnection": lambda org: org.device.connection,
    "locks.Device": lambda org: org.device,
    "locks.LockAssignment": lambda org: org.assignment,
    "reservations.LockEvent": _lock_event,
    "locks.UnmanagedCode": _unmanaged_code,
    "locks.LeftoverRemoval": _leftover_removal,
    "reservations.DeviceAlert": _device_alert,
    "reservations.Reservation": lambda org: org.reservation,
    "reservations.Turnover": _turnover,
    "reservations.StandingAccess": _standing_access,
    "reservations.CodeClearance": _code_clearance,
    "calendar_feeds.CalendarFeed": _calendar_feed,
    "hooks.WebhookEndpoint": webhook_endpoint,
    "hooks.WebhookDelivery": webhook_delivery,
    "pms_inbound.PmsConnection": pms_connection,
    "pms_inbound.PmsDelivery": pms_delivery,
    "guests.MessageTemplate": _message_template,
    "guests.GuestMessage": _guest_message,
    "desk.CodeLookup": _code_lookup,
    "desk.CodeDisclosure": _code_disclosure,
    "api.OrganizationAPIKey": lambda org: api_key_create(
        organization=org.organization, name="PMS", role="staff"
    )[0],
    # Site-wide models: no organization, superusers only.
    "auth.User": lambda org: org.staff,
    "auth.Group": lambda org: Group.objects.create(name=f"Group of {org.organization}"),
    "django_q.Schedule": lambda org: Schedule.objects.create(
        name=f"schedule-{org.organization.pk}", func="math.floor"
    ),
    "django_q.Success": _task(success=True),
    "django_q.Failure": _task(success=False),
    "django_q.OrmQ": _queued,
}

# Models scoped to organizations some other way than OrganizationScopedAdmin.
OTHER_SCOPED: set[str] = {"properties.FailedSignIn"}  # by the members' usernames
# Managers' business only: staff open none of their pages.
MANAGERS_ONLY = {"api.OrganizationAPIKey", "properties.Invitation", "properties.FailedSignIn"}

REGISTERED = sorted(
    (model._meta.label, model_admin) for model, model_admin in admin.site._registry.items()
)


def build(label: str, org: Org):
    if label not in BUILDERS:
        pytest.fail(
            f"{label} is registered in the admin but tests/core/test_admin_pages.py cannot build "
            "one: add it to BUILDERS."
        )
    return BUILDERS[label](org)


def is_scoped(label: str, model_admin) -> bool:
    return isinstance(model_admin, OrganizationScopedAdmin) or label in OTHER_SCOPED


def test_every_registered_model_has_a_builder():
    missing = [label for label, _ in REGISTERED if label not in BUILDERS]
    assert not missing, f"Registered in the admin without a builder in BUILDERS: {missing}"


# ---------------------------------------------------------------- pages of each model
def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _who(role: str, org: Org):
    if role == "superuser":
        return UserFactory(username="root", is_superuser=True)
    return getattr(org, role)


def _allowed(model_admin, user, check: str, obj=None) -> bool:
    request = RequestFactory().get("/")
    request.user = user
    if check == "add":
        return model_admin.has_add_permission(request)
    if check == "delete":
        return model_admin.has_delete_permission(request, obj)
    return model_admin.has_view_or_change_permission(request, obj)


@pytest.mark.parametrize("role", ["manager", "staff", "superuser"])
@pytest.mark.parametrize(("label", "model_admin"), REGISTERED, ids=[r[0] for r in REGISTERED])
def test_every_admin_page_of_every_model(client, org_a, label, model_admin, role):
    model = model_admin.model
    obj = build(label, org_a)
    user = _who(role, org_a)
    client.force_login(user)
    pages = {
        "changelist": (_url(model, "changelist"), "view", None),
        "add": (_url(model, "add"), "add", None),
        "change": (_url(model, "change", obj.pk), "view", obj),
        "history": (_url(model, "history", obj.pk), "view", obj),
        "delete": (_url(model, "delete", obj.pk), "delete", obj),
    }
    statuses = {}
    for page, (url, check, target) in pages.items():
        status = client.get(url).status_code
        statuses[page] = status
        # Refused: 403, or 404 where the person may not even see that the object exists.
        expected = {200} if _allowed(model_admin, user, check, target) else {403, 404}
        assert status in expected, f"{role} GET {page} of {label}: {status}, not {expected}"

    # What the roles dictate, whatever the permission methods say.
    if role == "superuser":
        assert statuses["changelist"] == statuses["change"] == statuses["history"] == 200
    elif not is_scoped(label, model_admin):
        assert set(statuses.values()) == {403}, f"{role} reaches site-wide {label}: {statuses}"
    elif label in MANAGERS_ONLY and role == "staff":
        assert 200 not in statuses.values(), f"staff reach {label}: {statuses}"
    elif role == "manager":
        assert statuses["changelist"] == statuses["change"] == statuses["history"] == 200
    else:
        assert statuses["delete"] == 403, f"staff may delete {label}"
        if getattr(model_admin, "managers_only", True):
            assert statuses["add"] == 403, f"staff may add {label}"


SCOPED = [(label, ma) for label, ma in REGISTERED if is_scoped(label, ma)]


@pytest.mark.parametrize("role", ["manager", "staff"])
@pytest.mark.parametrize(("label", "model_admin"), SCOPED, ids=[r[0] for r in SCOPED])
def test_another_organizations_object_is_404(client, org_a, org_b, label, model_admin, role):
    model = model_admin.model
    other = build(label, org_b)
    client.force_login(getattr(org_a, role))
    for view in ("change", "history", "delete"):
        status = client.get(_url(model, view, other.pk)).status_code
        # Staff may be refused managers' pages outright, before any lookup.
        allowed = {403, 404} if label in MANAGERS_ONLY and role == "staff" else {404}
        assert status in allowed, f"{role} GET {view} of another org's {label}: {status}"


def _date_field(model_admin) -> str | None:
    """The field a list's date drill-down uses, else the model's first date or time."""
    if model_admin.date_hierarchy:
        return model_admin.date_hierarchy
    for field in model_admin.model._meta.get_fields():
        if isinstance(field, models.DateField):  # DateTimeField too
            return field.name
    return None


DATED = [(label, ma) for label, ma in SCOPED if _date_field(ma)]


@pytest.mark.parametrize(("label", "model_admin"), DATED, ids=[r[0] for r in DATED])
def test_an_impossible_date_in_a_list_url_is_the_admins_bad_lookup_not_a_500(
    client, org_a, label, model_admin
):
    """A hand-edited list URL asking for year 0, a year past 9999 (the date drill-down at
    9999 asks for 10000 to end it) or one too large for the database: the admin's own
    answer to a bad lookup, a redirect to the list with ?e=1."""
    build(label, org_a)
    client.force_login(org_a.manager)
    url = _url(model_admin.model, "changelist")
    field = _date_field(model_admin)
    for year in ("0", "9999", "99999999999999999999"):
        response = client.get(url, {f"{field}__year": year})
        assert response.status_code in {200, 302}, f"{label} {field}__year={year}"
        if response.status_code == 302:
            assert response["Location"] == f"{url}?e=1"


# ---------------------------------------------------------------- custom pages (URLconf)
STANDARD_VIEWS = ("_changelist", "_add", "_change", "_delete", "_history")


def _custom_patterns():
    """(namespaced name, route) of every named admin page that is not a model's own page."""
    found = []

    def walk(patterns, namespace, route):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace or namespace
                if pattern.namespace and namespace:
                    inner = f"{namespace}:{pattern.namespace}"
                walk(pattern.url_patterns, inner, route + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and pattern.name:
                full_route = route + str(pattern.pattern)
                if not full_route.startswith("admin/") and pattern.name != "invitation_accept":
                    continue
                if pattern.name.endswith(STANDARD_VIEWS):
                    continue
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                found.append((name, full_route, pattern.pattern.converters, pattern.pattern))

    walk(get_resolver().url_patterns, "", "")
    return found


def _listing_on_site(org: Org):
    content_type = ContentType.objects.get_for_model(org.listing)
    return {"content_type_id": content_type.pk, "object_id": org.listing.pk}


def _connection(org: Org):
    return {"pk": org.device.connection.pk}


def _alert(org: Org):
    alert = DeviceAlert.objects.create(
        organization_id=org.device.organization_id,
        device=org.device,
        kind=DeviceAlert.Kind.OFFLINE,
        opened_at=timezone.now(),
    )
    return {"pk": alert.pk}


# URL name → keyword arguments for one organization's objects (a list: one GET each).
URL_KWARGS = {
    "admin:view_on_site": lambda org: [_listing_on_site(org)],
    "admin:app_list": lambda org: [
        {"app_label": label}
        for label in sorted({ma.model._meta.app_label for _, ma in REGISTERED})
    ],
    "admin:reservations_reservation_do": lambda org: [
        {"object_id": org.reservation.pk, "action": "cancel"}
    ],
    "admin:reservations_reservation_share_backup": lambda org: [
        {
            "object_id": org.reservation.pk,
            "access_id": org.reservation.lock_accesses.values_list("pk", flat=True).first() or 1,
        }
    ],
    # POST only (a GET is a 405), like the reservation page's own buttons.
    "admin:guests_reservation_email": lambda org: [{"reservation_id": org.reservation.pk}],
    "admin:guests_reservation_copy_text": lambda org: [{"reservation_id": org.reservation.pk}],
    "admin:guests_reservation_copy_link": lambda org: [{"reservation_id": org.reservation.pk}],
    "admin:guests_guestmessage_retry": lambda org: [{"message_id": _guest_message(org).pk}],
    "admin:guests_turnover_email": lambda org: [{"turnover_id": _turnover(org).pk}],
    "admin:guests_messagetemplate_preview": lambda org: [
        {"template_id": _message_template(org).pk}
    ],
    "smart_devices:import": lambda org: [_connection(org)],
    "smart_devices:connect": lambda org: [_connection(org)],
    "smart_devices:return": lambda org: [_connection(org)],
    "smart_devices:assign": lambda org: [_connection(org)],
    "smart_devices:webhook": lambda org: [_connection(org)],
    "invitation_accept": lambda org: [{"token": "not-a-real-token"}],
    "listing_timeline": lambda org: [{"pk": org.listing.pk}],
    "property_timeline": lambda org: [{"pk": org.property.pk}],
    "alert_acknowledge": lambda org: [_alert(org)],  # POST only: a GET is a 405
    "guest_link_regenerate": lambda org: [{"reservation_id": org.reservation.pk}],  # POST only
    # The front desk's buttons: POST only (a GET is a 405).
    **{
        name: lambda org: [{"reservation_id": org.reservation.pk}]
        for name in (
            "desk_reveal",
            "desk_copied",
            "desk_link",
            "desk_link_copied",
            "desk_email",
        )
    },
    "admin:properties_crewmember_offboard": lambda org: [{"pk": _crew_member(org).pk}],
    "admin:hooks_webhookendpoint_rotate": lambda org: [{"object_id": webhook_endpoint(org).pk}],
    # POST only: a GET is a 405.
    "admin:hooks_webhookdelivery_resend": lambda org: [{"object_id": webhook_delivery(org).pk}],
    # POST only: a GET is a 405.
    "admin:hooks_webhookendpoint_test": lambda org: [{"object_id": webhook_endpoint(org).pk}],
}

CUSTOM = _custom_patterns()


def _has_parameters(pattern) -> bool:
    return bool(getattr(pattern, "converters", None)) or bool(
        getattr(pattern, "regex", None) is not None and pattern.regex.groupindex
    )


def test_every_custom_page_with_parameters_is_known():
    unknown = [name for name, _, _, p in CUSTOM if _has_parameters(p) and name not in URL_KWARGS]
    assert not unknown, f"Admin URLs with parameters missing from URL_KWARGS: {unknown}"


@pytest.mark.parametrize("role", ["manager", "staff"])
@pytest.mark.parametrize("name", sorted({c[0] for c in CUSTOM}))
def test_every_custom_page_answers_without_error(client, org_a, org_b, name, role):
    client.force_login(getattr(org_a, role))
    pattern = next(p for n, _, _, p in CUSTOM if n == name)
    if _has_parameters(pattern):
        own = [reverse(name, kwargs=kwargs) for kwargs in URL_KWARGS[name](org_a)]
        other = [reverse(name, kwargs=kwargs) for kwargs in URL_KWARGS[name](org_b)]
    else:
        own, other = [reverse(name)], []
    for url in own:
        status = client.get(url).status_code
        assert status < 500, f"{role} GET {url}: {status}"
    for url in other:
        status = client.get(url).status_code
        assert status < 500, f"{role} GET {url} (another organization): {status}"
        if name != "admin:app_list":
            assert status != 200, f"{role} GET {url} shows another organization's page"
