import re
import zoneinfo
from collections import Counter

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import smart_split, unescape_string_literal

from core import access as org_access
from core.admin_scoping import ChecksDatesChangeList, OrganizationScopedAdmin
from core.exports import RecordsExportMixin
from core.languages import language_field
from core.text import counted
from core.timezones import format_instant as _local
from core.timezones import local_instant, validate_year_range
from locks.admin import unmanaged_codes_html
from locks.models import LockAssignment
from properties.models import Listing, Property

from . import (
    admin_events,  # noqa: F401  (registers the lock event and alert admins)
    panels,
    prearrival,
    services,
    verification,
)
from .activity import events_for_reservation, unmanaged_codes_for_reservation
from .codes import CodeRefused
from .doors import guest_doors, send_problem
from .models import AccessOverride, LockAccess, Reservation, ReservationCode, VerificationStep
from .resources import ReservationResource
from .selectors import (
    DAYS,
    arriving_on,
    double_booked,
    double_booking_warnings,
    failing,
    leaving_on,
    overlapping_stays,
    unconfirmed,
    without_guest_door,
)

State = LockAccess.State
STATE_COLORS = {
    State.PLANNED: "#555",
    State.HELD: "#8d6e00",
    State.PROGRAMMING: "#1565c0",
    State.REQUESTED: "#ef6c00",
    State.CONFIRMED: "#2e7d32",
    State.ACTIVE: "#1b5e20",
    State.REMOVING: "#6a1b9a",
    State.REMOVED: "#777",
    State.REVOKED: "#777",
    State.FAILED: "#c62828",
}


def _in_zone(value, zone: zoneinfo.ZoneInfo):
    """Re-read a wall-clock time the form parsed in the current zone as a time in `zone`.

    Returns None for a time that does not exist there (skipped by a daylight-saving change).
    """
    return local_instant(timezone.make_naive(value, timezone.get_current_timezone()), zone)


class ReservationForm(forms.ModelForm):
    """Check-in and check-out are typed in the property's local time."""

    # Overlapping confirmed stays are accepted (a PMS may send them) but never silently:
    # a save that makes one asks first.
    accept_double_booking = forms.BooleanField(
        required=False,
        label="Accept a double booking",
        help_text="Tick to save a confirmed stay that overlaps another one at this listing.",
    )

    class Meta:
        model = Reservation
        fields = [
            "listing",
            "guest_name",
            "guest_email",
            "guest_phone",
            "check_in",
            "check_out",
            "status",
            "source",
            "external_id",
            "language",
        ]
        help_texts = {
            "check_in": "Local time of the listing's property.",
            "check_out": "Local time of the listing's property.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Refused while the field is cleaned, before clean() reads the time in the zone.
        for name in ("check_in", "check_out"):
            if name in self.fields:
                self.fields[name].validators.append(validate_year_range)
                if self.instance.listing_id:
                    # The zone the times are typed in (the admin hides Django's note
                    # about the browser's offset from the server, which says nothing here).
                    zone = self.instance.listing.property.time_zone
                    self.fields[name].help_text = f"Times in {zone}, the property's zone."

    def clean(self):
        cleaned = super().clean()
        listing = cleaned.get("listing")
        if listing is None:
            return cleaned
        zone = listing.property.zone
        for name in ("check_in", "check_out"):
            if cleaned.get(name) is None:
                continue
            local = _in_zone(cleaned[name], zone)
            if local is None:
                self.add_error(
                    name,
                    f"This time does not exist in {listing.property.time_zone} "
                    "(the clocks change then).",
                )
            else:
                cleaned[name] = local
                setattr(self.instance, name, local)
        self._ask_about_double_booking(cleaned, listing)
        return cleaned

    def _ask_about_double_booking(self, cleaned, listing) -> None:
        stay_fields = {"listing", "check_in", "check_out", "status"}
        if self.instance.pk is not None and not stay_fields & set(self.changed_data):
            return  # the stay's dates and status are as they were: asked before
        check_in, check_out = cleaned.get("check_in"), cleaned.get("check_out")
        if cleaned.get("status") != Reservation.Status.CONFIRMED or not check_in or not check_out:
            return
        if cleaned.get("accept_double_booking") or "accept_double_booking" not in self.fields:
            return
        others = list(
            overlapping_stays(
                listing_id=listing.pk,
                check_in=check_in,
                check_out=check_out,
                exclude_pk=self.instance.pk,
            )[:3]
        )
        if others:
            zone = listing.property.zone
            names = "; ".join(
                f"{o.guest_name} {_local(o.check_in, zone)} → {_local(o.check_out, zone)}"
                for o in others
            )
            self.add_error(
                "accept_double_booking",
                f"This stay overlaps another confirmed stay at {listing} ({names}). Tick "
                "“Accept a double booking” and save again to keep both.",
            )

    def clean_status(self):
        # The same transition table as the API's (reservations.services): staff cannot set
        # "Checked out" by hand, nor bring an ended stay back.
        status = self.cleaned_data["status"]
        previous = None
        if self.instance.pk is not None:
            previous = Reservation.objects.values_list("status", flat=True).get(
                pk=self.instance.pk
            )
        problem = services.status_change_problem(previous=previous, status=status)
        if problem:
            raise forms.ValidationError(problem)
        return status


class LockAccessInline(admin.TabularInline):
    """Each lock's part of the stay: read-only, the lifecycle writes it."""

    model = LockAccess
    extra = 0
    can_delete = False
    verbose_name = "lock"
    verbose_name_plural = "Code on each lock"
    fields = [
        "device",
        "state_badge",
        "window",
        "programming",
        "provider_id",
        "attempts",
        "error",
        "backup",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("device", "reservation__listing__property")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return org_access.can_view(request.user, obj)

    def _zone(self, obj):
        return obj.reservation.listing.property.zone

    @admin.display(description="state")
    def state_badge(self, obj):
        state = obj.current_state()
        label = State(state).label
        if not obj.wanted and obj.reason:
            label += f" ({obj.get_reason_display().lower()})"
        return format_html(
            '<strong style="color:{}">{}</strong>', STATE_COLORS.get(state, "#000"), label
        )

    @admin.display(description="active window")
    def window(self, obj):
        zone = self._zone(obj)
        return f"{_local(obj.starts_at, zone)} → {_local(obj.ends_at, zone)}"

    @admin.display(description="on the lock")
    def programming(self, obj):
        """Each step with its time, in the order they happened (a lock's confirmation can
        carry an earlier time than a later re-send): planned, sent, confirmed by the lock,
        removed; what is still awaited last."""
        zone = self._zone(obj)
        steps = [("planned", obj.program_at)]
        steps += [("sent", obj.programmed_at)] if obj.programmed_at else []
        steps += [("confirmed", obj.confirmed_at)] if obj.confirmed_at else []
        steps += [("removal sent", obj.removal_requested_at)] if obj.removal_requested_at else []
        steps += [("removed", obj.removed_at)] if obj.removed_at else []
        steps.sort(key=lambda step: step[1])  # stable: steps at one instant keep their order
        if obj.programmed_at and not obj.confirmed_at and obj.state == State.REQUESTED:
            steps.append(("not yet confirmed by the lock", None))
        return format_html_join(
            mark_safe("<br>"),
            "{} {}",
            ((label, _local(at, zone) if at else "") for label, at in steps),
        )

    @admin.display(description="last error")
    def error(self, obj):
        if not obj.last_error:
            return "—"
        nxt = ""
        if obj.due_at and obj.state == State.FAILED:
            nxt = f" — next try {_local(obj.due_at, self._zone(obj))}"
        return format_html(
            '<span style="color:#c62828">{}</span><br><small>{}{}</small>',
            obj.last_error,
            _local(obj.last_error_at, self._zone(obj)),
            nxt,
        )

    @admin.display(description="backup code")
    def backup(self, obj):
        """A code from the lock's backup pool, pulled when the guest's was not confirmed."""
        if not obj.backup_provider_id:
            return "—"
        zone = self._zone(obj)
        shared = (
            f"shared {_local(obj.backup_shared_at, zone)}"
            if obj.backup_shared_at
            else "not shared"
        )
        url = reverse(
            "admin:reservations_reservation_share_backup", args=[obj.reservation_id, obj.pk]
        )
        return format_html(
            '<strong>Backup code ready</strong>: <span style="font:bold 1.2em monospace">{}'
            "</span><br><small>valid {} → {} · {}</small><br>"
            '<input type="submit" formaction="{}" formnovalidate value="Mark backup code shared">',
            obj.backup_code,
            _local(obj.backup_starts_at, zone),
            _local(obj.backup_ends_at, zone),
            shared,
            url,
        )


class OverrideForm(forms.ModelForm):
    code = forms.CharField(
        required=False,
        max_length=12,
        help_text="Your own code for this lock (digits). Empty: the reservation's code.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )

    class Meta:
        model = AccessOverride
        fields = ["assignment", "code", "lead_time_minutes", "starts_at", "ends_at"]
        help_texts = {
            "lead_time_minutes": "Put the code on this lock this long before its window.",
            "starts_at": "Local time. Empty: the stay's window.",
            "ends_at": "Local time. Empty: the stay's window.",
        }

    def __init__(self, *args, reservation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.reservation = reservation
        if self.instance.pk:
            self.fields["code"].initial = self.instance.code
        # Refused while the field is cleaned, before clean() reads the time in the zone.
        for name in ("starts_at", "ends_at"):
            self.fields[name].validators.append(validate_year_range)
            if reservation is not None:
                zone = reservation.listing.property.time_zone
                self.fields[name].help_text = f"Times in {zone}. Empty: the stay's window."

    def clean(self):
        cleaned = super().clean()
        reservation = self.reservation
        assignment = cleaned.get("assignment")
        if reservation is None or assignment is None:
            return cleaned
        zone = reservation.listing.property.zone
        for name in ("starts_at", "ends_at"):
            if cleaned.get(name):
                local = _in_zone(cleaned[name], zone)
                if local is None:
                    self.add_error(name, "This time does not exist there (clocks change).")
                else:
                    cleaned[name] = local
        if self.errors:
            return cleaned
        problems = services.override_problems(
            reservation=reservation,
            assignment=assignment,
            code=cleaned.get("code", ""),
            lead_time_minutes=cleaned.get("lead_time_minutes"),
            starts_at=cleaned.get("starts_at"),
            ends_at=cleaned.get("ends_at"),
        )
        for field_name, message in problems.items():
            self.add_error(field_name, message)
        return cleaned

    def save_through_service(self) -> AccessOverride:
        """Overrides are written by `services.override_set`, as the API writes them."""
        return services.override_set(
            reservation=self.reservation,
            assignment=self.cleaned_data["assignment"],
            override=self.instance if self.instance.pk else None,
            code=self.cleaned_data.get("code", ""),
            lead_time_minutes=self.cleaned_data.get("lead_time_minutes"),
            starts_at=self.cleaned_data.get("starts_at"),
            ends_at=self.cleaned_data.get("ends_at"),
        )


class OverrideInline(admin.StackedInline):
    model = AccessOverride
    form = OverrideForm
    extra = 0
    verbose_name = "override for one lock"
    readonly_fields = ["trim_note"]
    verbose_name_plural = "Overrides (one lock only)"

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None and "assignment" in formset.form.base_fields:
            # The form class is built for this request: narrowing it here is thread-safe
            # (the admin object itself is shared between requests).
            formset.form.base_fields["assignment"].queryset = LockAssignment.objects.filter(
                listing_id=obj.listing_id, guest_access=True
            ).select_related("device")

        class Bound(formset):
            def get_form_kwargs(self, index):
                return {**super().get_form_kwargs(index), "reservation": obj}

        return Bound

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "assignment":
            field.queryset = org_access.scope_queryset(
                LockAssignment.objects.select_related("device"), request.user
            )
        return field

    def has_view_permission(self, request, obj=None):
        return org_access.can_view(request.user, obj)

    def has_add_permission(self, request, obj=None):
        return obj is not None and org_access.can_view(request.user, obj)

    has_change_permission = has_add_permission
    has_delete_permission = has_add_permission


class FailingFilter(admin.SimpleListFilter):
    """The stays of the dashboard's lists of codes: each value, the stays of the rows it
    lists (the same condition), e.g. `?codes=failing` those of "Codes failing"."""

    title = "codes"
    parameter_name = "codes"

    def lookups(self, request, model_admin):
        return [
            ("failing", "A lock is failing"),
            ("late", "Late: not sent when due"),
            ("no_door", "A code but no door"),
            ("unconfirmed", "Sent, not confirmed, within a day"),
            ("requested", "Sent, not yet confirmed"),
            ("confirmed", "Confirmed on the locks"),
        ]

    def queryset(self, request, queryset):
        # A subquery, not a join: a join would list a stay once per matching lock.
        now = timezone.now()
        if self.value() == "no_door":
            return queryset.filter(without_guest_door(now))
        condition = {
            "failing": failing,
            "late": lambda: LockAccess.late(now),
            "unconfirmed": lambda: unconfirmed(now),
            State.REQUESTED: lambda: Q(state=State.REQUESTED, wanted=True),
            State.CONFIRMED: lambda: Q(state=State.CONFIRMED, wanted=True),
        }.get(self.value())
        if condition is None:
            return queryset
        matching = LockAccess.objects.filter(condition())
        return queryset.filter(pk__in=matching.values("reservation_id"))


class OverlapFilter(admin.SimpleListFilter):
    """The dashboard's double bookings: confirmed stays, not over, that overlap another."""

    title = "double booked"
    parameter_name = "overlap"

    def lookups(self, request, model_admin):
        return [("yes", "Overlaps another confirmed stay")]

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        # Over every stay: a stay's overlap is with one of its listing's, whatever the
        # other filters keep.
        pairs = double_booked(Reservation.objects.all(), timezone.now())
        return queryset.filter(pk__in={stay[2] for pair in pairs for stay in pair})


class VerificationFilter(admin.SimpleListFilter):
    title = "guest verification"
    parameter_name = "verification"

    def lookups(self, request, model_admin):
        return [
            ("awaiting", "Not verified, alert time come (the dashboard's)"),
            ("held", "Held until verified"),
            ("verified", "Verified"),
            ("not_required", "Not required"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "awaiting":
            return queryset.filter(verification.awaiting(timezone.now()))
        if self.value() == "held":
            return queryset.filter(verification_required=True, verified_at__isnull=True)
        if self.value() == "verified":
            return queryset.filter(verified_at__isnull=False)
        if self.value() == "not_required":
            return queryset.filter(verification_required=False, verified_at__isnull=True)
        return queryset


class LocalDayFilter(admin.SimpleListFilter):
    """Stays arriving (or leaving) on each property's own today or tomorrow: the
    dashboard's lists, one click away (the same condition, `arriving_on`/`leaving_on`)."""

    def lookups(self, request, model_admin):
        return [(key, key.capitalize()) for key in DAYS]

    def queryset(self, request, queryset):
        if self.value() not in DAYS:
            return queryset
        # Every zone in use: each stay is held to its own property's.
        zones = Property.objects.order_by().values_list("time_zone", flat=True).distinct()
        return queryset.filter(self.on(list(zones), timezone.now(), DAYS[self.value()]))


class ArrivingFilter(LocalDayFilter):
    title = "arriving"
    parameter_name = "arriving"
    on = staticmethod(arriving_on)


class LeavingFilter(LocalDayFilter):
    title = "leaving"
    parameter_name = "leaving"
    on = staticmethod(leaving_on)


def rotation_text(reservation: Reservation) -> str:
    """Which doors a rotation changes: those that take the stay's code. A door with a code
    of its own (an override, a code the lock picked) keeps it."""
    doors = guest_doors(reservation)
    changing = [door.name for door in doors if not door.own_code]
    keeping = [door.name for door in doors if door.own_code]
    text = (
        f"The new code replaces the old one on {_names(changing)}."
        if changing
        else "No door takes the stay's code now: the new code goes on the doors it is planned for."
    )
    if keeping:
        verb = "keeps its" if len(keeping) == 1 else "keep their"
        text += f" {_names(keeping)} {verb} own code."
    return text


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _door_note(door) -> str:
    """Why a door's code is not the stay's, or that the lock has not picked one yet."""
    if not door.code:
        return format_html(" <small>{}</small>", "(the lock picks its own code when it is set)")
    if door.own_code:
        return format_html(" <strong>{}</strong>", "(this door has its own code)")
    return ""


class ReservationChangeList(ChecksDatesChangeList):
    """Reads the states of the listed stays' locks with one query for the page.

    Counting them in the list's own query (a join and a GROUP BY) made every query of the
    page (the count, the page, the date hierarchy, the filters) aggregate every lock of
    every stay of the organization: seconds at 200,000 reservations.
    """

    def get_queryset(self, request, exclude_parameters=None):
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .prefetch_related(
                Prefetch(
                    "lock_accesses",
                    LockAccess.objects.only("pk", "reservation_id", "state").order_by(),
                    to_attr="listed_accesses",
                )
            )
        )


def _listing_rows(request) -> list[tuple[int, str, int, str]]:
    """(listing id, name, property id, property name) of every listing the person sees,
    read once per request for the property and listing filters.

    From the listings themselves: the filters' old "only those with reservations" read
    every reservation of the organization to find them.
    """
    rows = getattr(request, "_keystay_listing_rows", None)
    if rows is None:
        rows = list(
            org_access.scope_queryset(Listing.objects.all(), request.user)
            .order_by("property__name", "name", "pk")
            .values_list("pk", "name", "property_id", "property__name")
        )
        request._keystay_listing_rows = rows
    return rows


def natural_key(text: str) -> tuple:
    """A sort key that reads the numbers in a name as numbers ("Flat 2" < "Flat 10")."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
        for part in re.split(r"(\d+)", text)
        if part
    )


class PropertyListFilter(admin.RelatedFieldListFilter):
    """The properties of the person's listings."""

    def field_choices(self, field, request, model_admin):
        return list({prop: name for _, _, prop, name in _listing_rows(request)}.items())


class ListingListFilter(admin.RelatedFieldListFilter):
    """The listings of the chosen property; every listing when there are few.

    An organization with thousands of listings would get thousands of links: it picks a
    property first (the filter above), then one of its listings.
    """

    MAX_WITHOUT_PROPERTY = 100

    def field_choices(self, field, request, model_admin):
        rows = _listing_rows(request)
        prop = request.GET.get("listing__property__id__exact")
        chosen = request.GET.get(self.lookup_kwarg)
        if prop or len(rows) > self.MAX_WITHOUT_PROPERTY:
            rows = [row for row in rows if str(row[2]) == prop or str(row[0]) == chosen]
        # In the order people number flats: Flat 2 before Flat 10.
        rows = sorted(rows, key=lambda row: (row[3].casefold(), natural_key(row[1])))
        return [(pk, name) for pk, name, _, _ in rows]


def _hold_warning(holdable: int, chosen: int, on_locks: int) -> str:
    """What holding `holdable` of `chosen` selected stays does, `on_locks` of which have a
    code on the locks, in words that agree with each count."""
    if chosen == 1:
        who = "The selected stay will be held until its guest is verified"
        codes = "its code comes off the locks now" if on_locks else "it has no code on the locks"
    else:
        who = f"{holdable} of the {chosen} selected stays will be held until " + (
            "its guest is verified" if holdable == 1 else "their guests are verified"
        )
        if holdable == 1:
            codes = (
                "its code comes off the locks now" if on_locks else "it has no code on the locks"
            )
        elif on_locks == 0:
            codes = "none of them has a code on the locks"
        elif on_locks == holdable:
            codes = "their codes come off the locks now"
        else:
            codes = (
                "1 of them has a code on the locks, which comes off now"
                if on_locks == 1
                else f"{on_locks} of them have codes on the locks, which come off now"
            )
    told = "The guest is" if holdable == 1 else "Their guests are"
    return f"{who}; {codes}. {told} told nothing more until verified."


@admin.register(Reservation)
class ReservationAdmin(RecordsExportMixin, OrganizationScopedAdmin):
    # Staff look reservations up and change them; deleting stays with managers.
    managers_only = False
    form = ReservationForm
    change_form_template = "admin/reservations/reservation/change_form.html"
    # Named, so that the export button is added to this list rather than replacing it.
    change_list_template = "admin/reservations/reservation/change_list.html"
    # Stays as the list shows them, filters and search applied; never their codes.
    resource_classes = [ReservationResource]
    # Fits a 1,366-pixel screen between the admin's menu and the filters: the guest carries
    # the booking's origin, the listing its property, the stay both its times, the code
    # where it is on the locks.
    list_display = ["guest", "listing_column", "stay", "status", "locks"]
    list_filter = [
        "status",
        FailingFilter,
        OverlapFilter,
        ArrivingFilter,
        LeavingFilter,
        VerificationFilter,
        ("listing__property", PropertyListFilter),
        ("listing", ListingListFilter),
        "source",
        ("check_in", admin.DateFieldListFilter),
    ]
    list_select_related = ["listing__property", "code"]
    # One count per page: "N results (M total)" would count the whole table again.
    show_full_result_count = False
    search_fields = ["guest_name", "guest_email", "guest_phone", "external_id", "listing__name"]
    autocomplete_fields = ["listing"]
    date_hierarchy = "check_in"
    readonly_fields = [
        "door_code",
        "guest_verification",
        "arrival",
        "codes_made_outside",
        "activity",
        "created_at",
        "updated_at",
    ]
    inlines = [LockAccessInline, OverrideInline]
    actions = [
        "cancel_selected",
        "end_stay_selected",
        "retry_selected",
        "rotate_selected",
        "hold_selected",
    ]

    def get_changelist(self, request, **kwargs):
        return ReservationChangeList

    def get_search_results(self, request, queryset, search_term):
        """Django's search (every word in one of `search_fields`), with two changes for
        large lists: the listing's name is looked up among the listings, once per word,
        instead of joining a listing to every reservation; and the matches are found in
        one pass over the table, by id, whatever order and scope the page then wants (in
        date order, or through the organization's index, a rare guest would make the
        database fetch every reservation one at a time: several times slower). The pass
        reads every organization's rows, as Django's own search on a table does; the
        list keeps to the person's organizations."""
        own = [f"{name}__icontains" for name in self.search_fields if "__" not in name]
        words = []
        for word in smart_split(search_term):
            if word.startswith(('"', "'")) and word[0] == word[-1]:
                word = unescape_string_literal(word)
            listings = Listing.objects.filter(name__icontains=word).values("pk")
            words.append(
                Q(*(Q(**{lookup: word}) for lookup in own), listing__in=listings, _connector=Q.OR)
            )
        if not words:
            return queryset, False
        matches = Reservation.objects.filter(*words).order_by().values("pk")
        return queryset.filter(pk__in=matches), False

    def has_delete_permission(self, request, obj=None):
        # A reservation whose code may still be on a lock is cancelled, not deleted:
        # deleting it would forget the code on the door.
        if (
            obj is not None
            and obj.lock_accesses.exclude(state__in=LockAccess.FINAL_STATES).exists()
        ):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        live = queryset.filter(
            lock_accesses__state__in=[s for s in State.values if s not in LockAccess.FINAL_STATES]
        ).distinct()
        if live.exists():
            self.message_user(
                request,
                "Not deleted: some of these reservations still have codes on locks. "
                "Cancel them first.",
                messages.ERROR,
            )
            return
        super().delete_queryset(request, queryset)

    def get_inlines(self, request, obj):
        # Locks and overrides belong to an existing reservation's plan.
        return self.inlines if obj is not None else []

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "language":
            return language_field(db_field, blank_label="the listing's")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (None, {"fields": ["listing", "guest_name", ("guest_email", "guest_phone")]}),
            ("Stay", {"fields": [("check_in", "check_out"), "status", "accept_double_booking"]}),
            ("Origin", {"fields": [("source", "external_id"), "language"]}),
        ]
        if obj is not None:
            fieldsets[1][1]["fields"].append("arrival")
            fieldsets.insert(1, ("Door code", {"fields": ["door_code", "guest_verification"]}))
            fieldsets.append(
                (
                    "Other codes on these locks during the stay (read-only)",
                    {"fields": ["codes_made_outside"], "classes": ["collapse"]},
                )
            )
            fieldsets.append(("Activity", {"fields": ["activity"]}))
        return fieldsets

    @admin.display(description="arrived")
    def arrival(self, obj):
        """The guest's first unlock with their code, in the property's time zone."""
        if obj.arrived_at is None:
            return "Not yet (no unlock with the guest's code)"
        return _local(obj.arrived_at, obj.listing.property.zone)

    @admin.display(description="guest verification")
    def guest_verification(self, obj):
        """Whether the code waits for the guest's verification, and every step of it."""
        zone = obj.listing.property.zone
        if obj.code_held:
            status = format_html(
                '<strong id="verification-status" style="color:{}">{}</strong>',
                STATE_COLORS[State.HELD],
                "Held until the guest is verified: the code is on no lock and shown to nobody.",
            )
        elif obj.verified_at is not None:
            status = format_html(
                '<strong id="verification-status">Verified {} by {}</strong>',
                _local(obj.verified_at, zone),
                obj.verified_by or "—",
            )
        else:
            status = format_html('<span id="verification-status">{}</span>', "Not required.")
        steps = VerificationStep.objects.filter(reservation=obj).order_by("-at", "-pk")[:50]
        history = format_html_join(
            "",
            "<li>{} — {}{}{}</li>",
            (
                (
                    _local(step.at, zone),
                    step.get_kind_display(),
                    f" ({step.by})" if step.by else "",
                    f": {step.detail}" if step.detail else "",
                )
                for step in steps
            ),
        )
        if not steps:
            return status
        return format_html('{}<ul id="verification-history">{}</ul>', status, history)

    @admin.display(description="codes made outside Keystay")
    def codes_made_outside(self, obj):

        return unmanaged_codes_html(unmanaged_codes_for_reservation(obj))

    @admin.display(description="events")
    def activity(self, obj):

        events = events_for_reservation(obj)
        return render_to_string("reservations/_events.html", {"events": events})

    @admin.display(description="listing", ordering="listing__name")
    def listing_column(self, obj):
        return format_html("{}<br><small>{}</small>", obj.listing, obj.listing.property)

    @admin.display(description="stay (local time)", ordering="check_in")
    def stay(self, obj):
        zone = obj.listing.property.zone
        return format_html(
            '<span class="nowrap">{}</span><br><span class="nowrap">→ {}</span>',
            _local(obj.check_in, zone),
            _local(obj.check_out, zone),
        )

    @admin.display(description="guest", ordering="guest_name")
    def guest(self, obj):
        origin = " · ".join(part for part in (obj.source, obj.external_id) if part)
        if not origin:
            return obj.guest_name
        return format_html(
            '{}<br><small style="overflow-wrap:anywhere">{}</small>', obj.guest_name, origin
        )

    @admin.display(description="code on the locks")
    def locks(self, obj):
        """The code, masked (revealed on the stay's own page), and where it is."""
        try:
            code = obj.code.masked
        except ReservationCode.DoesNotExist:
            code = "no code"
        if obj.code_held:
            return format_html("{}<br><small>{}</small>", code, "held until the guest is verified")
        accesses = getattr(obj, "listed_accesses", None)
        if accesses is None:  # not read by the changelist
            accesses = obj.lock_accesses.only("state")
        states = Counter(access.state for access in accesses)
        if states[State.FAILED]:
            return format_html(
                '{}<br><strong style="color:#c62828">{} failing</strong>',
                code,
                states[State.FAILED],
            )
        parts = []
        if states[State.CONFIRMED]:
            parts.append(f"{states[State.CONFIRMED]} confirmed")
        if states[State.REQUESTED]:
            parts.append(f"{states[State.REQUESTED]} not yet confirmed")
        return format_html("{}<br><small>{}</small>", code, ", ".join(parts) or "—")

    @admin.display(description="code")
    def door_code(self, obj):
        """Revealed on the reservation's own page, to members of its organization only."""
        try:
            code = obj.code
        except ReservationCode.DoesNotExist:
            return "No code: a code is generated when the reservation is confirmed."
        zone = obj.listing.property.zone
        if obj.code_held:
            return format_html(
                '<span id="door-code">{}</span>',
                "Held until the guest is verified: the code is shown to nobody and is on "
                "no lock. Mark the guest verified to release it.",
            )
        facts = [("Generated", _local(code.generated_at, zone))]
        if code.rotated_at:
            facts.append(("Rotated", _local(code.rotated_at, zone)))
        facts.append(("Sent to guest", _local(code.sent_at, zone) if code.sent_at else "not yet"))
        doors = guest_doors(obj)
        if doors:
            rows = format_html_join(
                "",
                '<li data-door="{}">{}: <span class="door-code-value" style="font:bold 1.1em '
                'monospace;letter-spacing:.1em">{}</span>{} — <strong style="color:{}">{}'
                "</strong></li>",
                (
                    (
                        door.name,
                        door.name,
                        door.code or "—",
                        _door_note(door),
                        STATE_COLORS.get(door.state, "#000"),
                        State(door.state).label,
                    )
                    for door in doors
                ),
            )
            per_door = format_html('<ul id="door-codes" style="margin:.5em 0 0">{}</ul>', rows)
        else:
            per_door = format_html(
                '<p id="door-codes"><small>{}</small></p>',
                send_problem(obj) or "No door holds this code.",
            )
        return format_html(
            '<span id="door-code" style="font:bold 1.6em monospace;letter-spacing:.2em">{}</span>'
            "<br><small>{}</small>{}",
            code.value,
            format_html_join(" · ", "{}: {}", facts),
            per_door,
        )

    # Saving: every change re-plans the locks (after overrides are saved too).

    def save_model(self, request, obj, form, change):
        services.reservation_save(reservation=obj)
        if form.cleaned_data.get("accept_double_booking"):
            for warning in double_booking_warnings(obj):
                messages.warning(request, warning)

    def save_formset(self, request, form, formset, change):
        if formset.model is not AccessOverride:
            return super().save_formset(request, form, formset, change)
        # Each override through its service (which re-plans that lock), never form.save().
        # The lists below are what the admin's history entry is written from.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for override_form in formset.forms:
            existing = override_form.instance.pk is not None
            if override_form in formset.deleted_forms:
                if existing:
                    services.override_delete(override=override_form.instance)
                    formset.deleted_objects.append(override_form.instance)
            elif override_form.has_changed():
                saved = override_form.save_through_service()
                if existing:
                    formset.changed_objects.append((saved, override_form.changed_data))
                else:
                    formset.new_objects.append(saved)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Show and read the times in the property's zone on an existing reservation.
        if object_id:
            obj = self.get_object(request, object_id)
            with timezone.override(obj.listing.property.zone):
                response = super().changeform_view(request, object_id, form_url, extra_context)
                # Render now: a TemplateResponse would otherwise render after the override.
                if hasattr(response, "render"):
                    response.render()
                return response
        # A new stay's empty form: when every property the person has shares one zone, the
        # page is in it, so that the admin's "Today" and "Now" fill that zone's date and
        # time, not the server's. (A posted form reads its times in the listing's zone.)
        zones = (
            set()
            if request.method != "GET"
            else set(
                org_access.scope_queryset(Property.objects.all(), request.user)
                .values_list("time_zone", flat=True)
                .distinct()[:2]
            )
        )
        if len(zones) == 1:
            with timezone.override(zoneinfo.ZoneInfo(zones.pop())):
                response = super().changeform_view(request, object_id, form_url, extra_context)
                if hasattr(response, "render"):
                    response.render()
                return response
        return super().changeform_view(request, object_id, form_url, extra_context)

    # Buttons on the reservation page and actions on the list.

    BUTTONS = {
        "end-stay": (
            "End stay now",
            services.reservation_end_stay,
            "The stay ended: codes leave the locks now.",
        ),
        "cancel": (
            "Cancel reservation",
            services.reservation_cancel,
            "Cancelled: the code is revoked on every lock.",
        ),
        "retry": ("Retry failed locks now", None, "Failed locks are being retried now."),
        # Its message names the doors (rotation_doors), said per stay by _run.
        "rotate": ("Rotate code", services.code_rotate, ""),
        "mark-sent": (
            "Mark code as sent",
            services.code_mark_sent,
            "The code is marked as sent to the guest.",
        ),
        # Said per stay by _run (the service's own words): with who, in the history.
        "verify": ("Mark guest verified", verification.reservation_verify, ""),
        "unverify": ("Revoke verification", verification.reservation_unverify, ""),
    }
    # Buttons whose service records who did it.
    BY_STAFF = frozenset({"verify", "unverify"})

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/do/<slug:action>/",
                self.admin_site.admin_view(self.button_view),
                name="reservations_reservation_do",
            ),
            path(
                "<path:object_id>/backup/<int:access_id>/share/",
                self.admin_site.admin_view(self.share_backup_view),
                name="reservations_reservation_share_backup",
            ),
        ]
        return urls + super().get_urls()

    # What staff are asked before an action that cannot be undone.
    CONFIRM = {
        "cancel": (
            "The code is revoked on every lock at once and the guest can no longer open "
            "any door. A cancelled reservation cannot be reopened with the same code."
        ),
        "end-stay": (
            "The code leaves every lock now, even if the guest is still inside and the "
            "stay was due to last longer."
        ),
        "rotate": (
            "A new code is made and the old one stops opening the doors listed, as soon as "
            "each lock takes the new one. The guest must be told the new code: until then "
            "they cannot open those doors."
        ),
        "unverify": (
            "The code is held again until the guest is verified: it comes off every lock "
            "it reached, and the guest page stops showing it."
        ),
    }
    # The bulk action that asks each question again, once confirmed.
    CONFIRM_ACTIONS = {
        "cancel": "cancel_selected",
        "end-stay": "end_stay_selected",
        "rotate": "rotate_selected",
    }

    @staticmethod
    def applicable_actions(reservation: Reservation, now=None) -> list[str]:
        """The buttons that can do something for this reservation, in BUTTONS' order."""
        now = now or timezone.now()
        Status = Reservation.Status
        ongoing = reservation.is_live and now < reservation.check_out
        applicable = {
            "end-stay": reservation.status == Status.CONFIRMED and reservation.ended_at is None,
            "cancel": reservation.status in (Status.PENDING, Status.CONFIRMED),
            "retry": any(a.state == State.FAILED for a in reservation.lock_accesses.all()),
            "rotate": ongoing and not reservation.code_held,
            "mark-sent": send_problem(reservation, now) is None,
            "verify": reservation.code_held and reservation.is_live,
            "unverify": (
                reservation.is_live
                and reservation.verified_at is not None
                and now < reservation.check_in
            ),
        }
        return [key for key in ReservationAdmin.BUTTONS if applicable[key]]

    def button_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if action not in self.BUTTONS:
            raise PermissionDenied
        obj = self.get_object(request, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        if action in self.CONFIRM and request.POST.get("confirmed") != "yes":
            return self._confirmation(request, action, [obj])
        self._run(request, action, [obj])
        return HttpResponseRedirect(
            reverse("admin:reservations_reservation_change", args=[obj.pk])
        )

    def _confirmation(self, request, action: str, reservations, *, bulk: bool = False):
        """Ask before cancelling or ending stays (a button, or a bulk action)."""
        label = self.BUTTONS[action][0]
        details = {}
        if action == "rotate":
            details = {reservation.pk: rotation_text(reservation) for reservation in reservations}
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label}?",
            "opts": self.model._meta,
            "action": action,
            "label": label,
            "warning": self.CONFIRM[action],
            "reservations": [(r, details.get(r.pk, "")) for r in reservations],
            "bulk": bulk,
            "bulk_action": self.CONFIRM_ACTIONS.get(action, ""),
            "back_url": (
                reverse("admin:reservations_reservation_changelist")
                if bulk
                else reverse("admin:reservations_reservation_change", args=[reservations[0].pk])
            ),
        }
        return TemplateResponse(
            request, "admin/reservations/reservation/confirm_action.html", context
        )

    def share_backup_view(self, request, object_id, access_id):
        """Staff gave the guest the lock's backup code: recorded with who and when."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_change_permission(request, obj):
            raise PermissionDenied
        access = obj.lock_accesses.filter(pk=access_id).first()
        if access is None:
            raise PermissionDenied
        try:
            prearrival.backup_code_share(access=access, shared_by=request.user)
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
        else:
            self.message_user(
                request, f"Backup code of {access.device} marked as shared.", messages.SUCCESS
            )
        return HttpResponseRedirect(
            reverse("admin:reservations_reservation_change", args=[obj.pk])
        )

    def _run(self, request, action: str, reservations) -> None:
        label, service, done = self.BUTTONS[action]
        for reservation in reservations:
            if action == "rotate":
                # Which doors change is read before: after, every door shows the new code.
                done_here = f"{reservation}: new code. {rotation_text(reservation)}"
            try:
                with transaction.atomic():
                    if action == "retry":
                        for access in reservation.lock_accesses.filter(state=State.FAILED):
                            services.access_retry_now(access=access)
                    elif action in self.BY_STAFF:
                        outcome = service(reservation=reservation, by=request.user)
                        self.message_user(
                            request, f"{reservation}: {outcome.message}", messages.SUCCESS
                        )
                    else:
                        service(reservation=reservation)
                    # In the reservation's history, with who and when.
                    self.log_change(request, reservation, f"{label}.")
            except ValidationError as error:
                self.message_user(
                    request, f"{reservation}: {' '.join(error.messages)}", messages.ERROR
                )
                return
            except CodeRefused as error:
                self.message_user(request, f"{reservation}: {error}", messages.ERROR)
                return
            if action == "rotate":
                self.message_user(request, done_here, messages.SUCCESS)
        if done:
            self.message_user(request, done, messages.SUCCESS)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["reservation_buttons"] = (
            [
                (
                    reverse("admin:reservations_reservation_do", args=[obj.pk, key]),
                    self.BUTTONS[key][0],
                )
                for key in self.applicable_actions(obj)
            ]
            if obj is not None and self.has_change_permission(request, obj)
            else []
        )
        # Sections of the apps above (guest messages...): see reservations.panels.
        context["reservation_panels"] = panels.rendered(request, obj) if obj is not None else []
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.action(description="Cancel: revoke the code on every lock")
    def cancel_selected(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return self._confirmation(request, "cancel", list(queryset), bulk=True)
        self._run(request, "cancel", queryset)

    @admin.action(description="End stay now: remove the code from every lock")
    def end_stay_selected(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return self._confirmation(request, "end-stay", list(queryset), bulk=True)
        self._run(request, "end-stay", queryset)

    @admin.action(description="Retry failed locks now")
    def retry_selected(self, request, queryset):
        self._run(request, "retry", queryset)

    @admin.action(description="Rotate code: a new code on the doors that use it")
    def rotate_selected(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            return self._confirmation(request, "rotate", list(queryset), bulk=True)
        self._run(request, "rotate", queryset)

    @admin.action(description="Hold until the guest is verified: codes come off the locks")
    def hold_selected(self, request, queryset):
        """For stays confirmed before a listing required verification (they keep their
        codes otherwise): asks first, saying how many are held and how many codes come
        off the locks, then holds them and says how many."""
        now = timezone.now()
        chosen = list(queryset.select_related("listing__property"))
        holdable = [r for r in chosen if verification.hold_problem(r, now) is None]
        if not holdable:
            self.message_user(
                request,
                "None of the selected stays can be held: each is already held or verified, "
                "has begun, or is not a confirmed coming stay.",
                messages.WARNING,
            )
            return None
        if request.POST.get("confirmed") != "yes":
            on_locks = verification.codes_at_provider(holdable)
            skipped = len(chosen) - len(holdable)
            warning = _hold_warning(len(holdable), len(chosen), on_locks)
            if skipped:
                warning += (
                    f" {skipped} will be left as {'it is' if skipped == 1 else 'they are'} "
                    "(already held or verified, begun, or not a confirmed coming stay)."
                )
            context = {
                **self.admin_site.each_context(request),
                "title": "Hold until verified?",
                "opts": self.model._meta,
                "action": "hold",
                "label": "Hold until verified",
                "warning": warning,
                "reservations": [(r, "") for r in holdable],
                "bulk": True,
                "bulk_action": "hold_selected",
                "back_url": reverse("admin:reservations_reservation_changelist"),
            }
            return TemplateResponse(
                request, "admin/reservations/reservation/confirm_action.html", context
            )
        held = verification.reservations_hold(reservations=holdable, by=request.user, now=now)
        for reservation in held:
            self.log_change(request, reservation, "Held until the guest is verified.")
        skipped = len(chosen) - len(held)
        self.message_user(
            request,
            f"{counted(len(held), 'stay')} held until "
            + ("its guest is" if len(held) == 1 else "their guests are")
            + " verified"
            + (f"; {skipped} left as they were." if skipped else "."),
            messages.SUCCESS,
        )


# Registered after the models above (their admin classes are read by these).
from . import (  # noqa: E402
    admin_standing,  # noqa: F401  (standing access, offboarding, reports)
    admin_turnovers,  # noqa: F401  (registers the turnovers)
)
