"""The Listing admin's import (upload, preview, confirm) and export screens."""

import codecs
import datetime
import io

import openpyxl
import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from locks.listing_import import FORMATS, all_columns
from locks.models import LockAssignment
from properties.models import Listing, Property
from tests.factories import (
    DeviceFactory,
    ListingFactory,
    LockAssignmentFactory,
    MembershipFactory,
    PropertyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("admin:properties_listing_import")
PROCESS_URL = reverse("admin:properties_listing_process_import")
EXPORT_URL = reverse("admin:properties_listing_export")
HEADER = [
    "property",
    "time_zone",
    "name",
    "external_id",
    "check_in_time",
    "check_out_time",
    "code_lead_time_minutes",
    "code_length",
    "active",
]


def csv_file(rows, header=HEADER, delimiter=",", encoding="utf-8", bom=b""):
    lines = [delimiter.join(header)] + [delimiter.join(str(cell) for cell in row) for row in rows]
    return bom + ("\r\n".join(lines) + "\r\n").encode(encoding)


def upload(client, data, name="listings.csv", fmt="csv", **extra):
    post = {"import_file": SimpleUploadedFile(name, data), "format": fmt, **extra}
    return client.post(IMPORT_URL, post)


def confirm(client, preview_response, **extra):
    key = preview_response.context["upload_key"]
    return client.post(PROCESS_URL, {"key": key, "confirm": "Confirm import", **extra})


def import_ok(client, data, **kwargs):
    preview = upload(client, data, **kwargs)
    assert preview.status_code == 200
    assert preview.context["problems"] == []
    response = confirm(client, preview)
    assert response.status_code == 302, response.content.decode()[:2000]
    return preview, response


def problems_of(response):
    return [(p.row, p.column) for p in response.context["problems"]]


def snapshot():
    """Everything an import could touch, to prove that nothing was written."""
    listings = list(Listing.objects.order_by("pk").values())
    properties = list(Property.objects.order_by("pk").values())
    assignments = list(LockAssignment.objects.order_by("pk").values())
    return listings, properties, assignments


def test_good_file_creates_and_updates_listings_and_assignments(manager_client, org_a, org_b):
    gate = DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")
    back = DeviceFactory(connection=org_a.device.connection, name="Alpha Back Door")
    flat = org_a.listing
    header = [*HEADER, "primary_lock", "secondary_locks", "locks_without_guest_access"]
    data = csv_file(
        [
            # An update of the existing listing: new times and code length, a gate added.
            [
                "Alpha House",
                "Europe/Lisbon",
                "Alpha Flat",
                flat.external_id,
                "16:00",
                "10:30",
                "120",
                "6",
                "yes",
                "Alpha Front Door",
                "Alpha Gate",
                "Alpha Gate",
            ],
            # A new listing in the existing property.
            ["Alpha House", "", "Alpha Loft", "LOFT-1", "", "", "", "", "yes", "", "", ""],
            # A new listing in a new property, created with the given time zone.
            [
                "Beach House",
                "Europe/Madrid",
                "Beach Room",
                "BEACH-1",
                "14:00",
                "",
                "",
                "8",
                "no",
                "Alpha Back Door",
                "Alpha Gate",
                "",
            ],
        ],
        header=header,
    )
    before = snapshot()

    preview = upload(manager_client, data)

    assert preview.status_code == 200
    assert snapshot() == before  # the preview writes nothing
    page = preview.content.decode()
    assert "Update" in page and "New" in page
    assert "(new property)" in page
    assert "<del>—</del> → <ins>16:00</ins>" in page  # check-in was the property's
    assert "Importing into <strong>Alpha</strong>" in page

    response = confirm(manager_client, preview)

    assert response.status_code == 302
    flat.refresh_from_db()
    assert flat.check_in_time == datetime.time(16, 0)
    assert flat.check_out_time == datetime.time(10, 30)
    assert (flat.code_lead_time_minutes, flat.code_length, flat.active) == (120, 6, True)
    assert {(a.device.name, a.role, a.guest_access) for a in flat.assignments.all()} == {
        ("Alpha Front Door", "primary", True),
        ("Alpha Gate", "secondary", False),
    }
    loft = Listing.objects.get(external_id="LOFT-1")
    assert (loft.organization, loft.property, loft.name) == (
        org_a.organization,
        org_a.property,
        "Alpha Loft",
    )
    assert loft.check_in_time is None and loft.assignments.count() == 0
    beach = Listing.objects.get(external_id="BEACH-1")
    assert beach.organization == org_a.organization
    assert beach.property.name == "Beach House"
    assert beach.property.time_zone == "Europe/Madrid"
    assert beach.property.organization == org_a.organization
    assert (beach.check_in_time, beach.code_length, beach.active) == (datetime.time(14), 8, False)
    assert {(a.device, a.role, a.guest_access) for a in beach.assignments.all()} == {
        (back, "primary", True),
        (gate, "secondary", True),
    }
    follow = manager_client.get(reverse("admin:properties_listing_changelist"))
    messages = [str(m) for m in follow.context["messages"]]
    assert "Import finished: 2 new, 1 updated, 0 unchanged listings." in messages
    history = LogEntry.objects.get(object_id=str(org_a.organization.pk))
    assert history.change_message == (
        "Imported listings from listings.csv: 2 new, 1 updated, 0 unchanged."
    )


def export(client, fmt="csv"):
    return client.post(EXPORT_URL, {"format": fmt})


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "tsv", "json"])
def test_export_reimported_changes_nothing(manager_client, org_a, org_b, fmt):
    gate = DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")
    LockAssignmentFactory(listing=org_a.listing, device=gate, guest_access=False)
    old_door = DeviceFactory(
        connection=org_a.device.connection,
        name="Old Door",
        removed_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    other = ListingFactory(
        property=PropertyFactory(organization=org_a.organization, name="Ünïcode Häus"),
        name='Alpha Studio; top floor, "quoted"',
        check_in_time=datetime.time(17, 30),
        check_out_time=datetime.time(9, 45),
        code_length=8,
        code_lead_time_minutes=90,
        active=False,
    )
    LockAssignmentFactory(listing=other, device=gate)
    LockAssignmentFactory(listing=other, device=old_door)  # removed at the provider since
    before = snapshot()

    response = export(manager_client, fmt)

    assert response.status_code == 200
    extension = FORMATS[fmt].extension
    preview, _ = import_ok(manager_client, response.content, name=f"listings.{extension}", fmt=fmt)

    assert [row.action for row in preview.context["plan"].rows] == ["skip", "skip"]
    assert snapshot() == before


def test_csv_export_is_excel_friendly_and_scoped(manager_client, org_a, org_b):
    response = export(manager_client)

    content = response.content
    assert content.startswith(codecs.BOM_UTF8)  # Excel reads the accents right
    lines = content.decode("utf-8-sig").splitlines()
    # Keystay's columns, then those other apps add (calendar_feeds).
    assert lines[0] == ",".join(all_columns())
    assert lines[1] == (
        f"Alpha House,Europe/Lisbon,Alpha Flat,{org_a.listing.external_id},,,,,yes,"
        "Alpha Front Door,,,"
    )
    assert len(lines) == 2  # nothing of Bravo


def test_xlsx_file_with_typed_cells_imports(manager_client, org_a):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Property", "Name", "External ID", "Check-in time", "Code length", "Active"])
    sheet.append(["Alpha House", "Typed", 4711, datetime.time(15, 30), 7, True])
    buffer = io.BytesIO()
    book.save(buffer)

    import_ok(manager_client, buffer.getvalue(), name="listings.xlsx", fmt="xlsx")

    listing = Listing.objects.get(external_id="4711")
    assert (listing.check_in_time, listing.code_length, listing.active) == (
        datetime.time(15, 30),
        7,
        True,
    )


BAD_ROWS = [
    pytest.param(
        ["Alpha House", "Mars/Olympus", "Loft", "L-1", "", "", "", "", "yes"],
        "time_zone",
        "is not a time zone",
        id="unknown-time-zone",
    ),
    pytest.param(
        ["Alpha House", "", "Loft", "L-1", "25:00", "", "", "", "yes"],
        "check_in_time",
        "is not a time of day",
        id="bad-time",
    ),
    pytest.param(
        ["Alpha House", "", "Loft", "L-1", "", "11.5", "", "", "yes"],
        "check_out_time",
        "is not a time of day",
        id="bad-time-format",
    ),
    pytest.param(
        ["Alpha House", "", "Loft", "L-1", "", "", "", "3", "yes"],
        "code_length",
        "4 to 12",
        id="code-length-out-of-range",
    ),
    pytest.param(
        ["Alpha House", "", "Loft", "L-1", "", "", "", "", "maybe"],
        "active",
        "neither yes nor no",
        id="bad-boolean",
    ),
    pytest.param(
        ["New Place", "", "Loft", "L-1", "", "", "", "", "yes"],
        "property",
        "is a new property: give its time zone",
        id="new-property-without-time-zone",
    ),
    pytest.param(
        ["Alpha House", "Europe/Paris", "Loft", "L-1", "", "", "", "", "yes"],
        "time_zone",
        "has the time zone Europe/Lisbon",
        id="existing-property-other-time-zone",
    ),
    pytest.param(
        ["Alpha House", "", "Loft", "", "", "", "", "", "yes"],
        "external_id",
        "The external id is empty",
        id="empty-external-id",
    ),
]


@pytest.mark.parametrize(("bad_row", "column", "message"), BAD_ROWS)
def test_bad_row_is_reported_by_row_and_column_and_nothing_is_written(
    manager_client, org_a, bad_row, column, message
):
    good = ["Alpha House", "", "Fine Flat", "FINE-1", "15:00", "11:00", "", "", "yes"]
    data = csv_file([good, good[:3] + ["FINE-2"] + good[4:], bad_row])
    before = snapshot()

    response = upload(manager_client, data)

    assert response.status_code == 200
    assert (4, column) in problems_of(response)
    assert "upload_key" not in response.context
    page = response.content.decode()
    assert "Nothing was imported" in page
    assert message in page
    assert snapshot() == before


def test_duplicated_external_id_is_reported_on_both_rows(manager_client, org_a):
    rows = [
        ["Alpha House", "", "One", "SAME", "", "", "", "", "yes"],
        ["Alpha House", "", "Other", "OTHER", "", "", "", "", "yes"],
        ["Alpha House", "", "Two", "SAME", "", "", "", "", "yes"],
    ]
    before = snapshot()

    response = upload(manager_client, csv_file(rows))

    assert problems_of(response) == [(2, "external_id"), (4, "external_id")]
    assert "is also in row 4" in response.content.decode()
    assert snapshot() == before


def test_device_of_another_organization_is_reported_without_revealing_it(
    manager_client, org_a, org_b
):
    header = [*HEADER, "primary_lock"]
    row = ["Alpha House", "", "Loft", "L-1", "", "", "", "", "yes", org_b.device.name]
    before = snapshot()

    response = upload(manager_client, csv_file([row], header=header))

    assert problems_of(response) == [(2, "primary_lock")]
    assert "Alpha has no device named “Bravo Front Door”" in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("missing", ["property", "name", "external_id"])
def test_missing_required_column_is_reported_and_nothing_is_written(
    manager_client, org_a, missing
):
    header = [column for column in HEADER if column != missing]
    row = {"property": "Alpha House", "name": "Loft", "external_id": "L-1", "active": "yes"}
    data = csv_file([[row.get(column, "") for column in header]], header=header)
    before = snapshot()

    response = upload(manager_client, data)

    assert problems_of(response) == [(1, missing)]
    assert f"The file has no “{missing}” column" in response.content.decode()
    assert snapshot() == before


def test_unknown_column_is_reported(manager_client, org_a):
    data = csv_file(
        [["Alpha House", "Loft", "L-1", "?"]], header=["property", "name", "external_id", "notes"]
    )
    response = upload(manager_client, data)
    assert problems_of(response) == [(1, "notes")]


def test_confirm_rolls_everything_back_when_the_data_changed_since_the_preview(
    manager_client, org_a
):
    gate = DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")
    header = [*HEADER, "secondary_locks"]
    rows = [
        ["Alpha House", "", "One", "ONE", "", "", "", "", "yes", ""],
        ["Alpha House", "", "Two", "TWO", "", "", "", "", "yes", "Alpha Gate"],
    ]
    preview = upload(manager_client, csv_file(rows, header=header))
    assert preview.context["problems"] == []
    gate.delete()  # gone before the manager confirms
    before = snapshot()

    response = confirm(manager_client, preview)

    assert response.status_code == 302
    assert response.url == IMPORT_URL
    assert snapshot() == before  # row "ONE" was fine, and is not written either
    follow = manager_client.get(response.url)
    messages = [str(m) for m in follow.context["messages"]]
    assert any(
        m.startswith("Nothing was imported: Row 3, column “secondary_locks”") for m in messages
    )


ENCODINGS = [
    pytest.param(",", "utf-8", b"", id="utf8-comma"),
    pytest.param(",", "utf-8", codecs.BOM_UTF8, id="utf8-bom-comma"),
    pytest.param(";", "utf-8", codecs.BOM_UTF8, id="utf8-bom-semicolon"),
    pytest.param(";", "cp1252", b"", id="excel-windows-semicolon"),
    pytest.param("\t", "utf-8", b"", id="utf8-tab"),
    pytest.param("\t", "utf-16-le", codecs.BOM_UTF16_LE, id="excel-unicode-text"),
]


@pytest.mark.parametrize(("delimiter", "encoding", "bom"), ENCODINGS)
def test_spreadsheet_encodings_and_delimiters_are_accepted(
    manager_client, org_a, delimiter, encoding, bom
):
    rows = [["Alpha House", "", "Café Ñandú", "CAFE-1", "15:00", "", "", "", "yes"]]
    data = csv_file(rows, delimiter=delimiter, encoding=encoding, bom=bom)

    import_ok(manager_client, data)

    assert Listing.objects.get(external_id="CAFE-1").name == "Café Ñandú"


def test_headers_in_plain_words_and_blank_rows_are_accepted(manager_client, org_a):
    data = (
        b"Property;Listing name;External ID;Check-in time\r\n"
        b";;;\r\n"
        b"Alpha House;Loft;L-1;9:15\r\n"
        b"\r\n"
        b"Alpha House;Attic;L-2;\r\n"
        b";;;\r\n"
    )
    preview, _ = import_ok(manager_client, data)
    assert [row.row for row in preview.context["plan"].rows] == [3, 5]
    assert Listing.objects.get(external_id="L-1").check_in_time == datetime.time(9, 15)


def test_other_organizations_external_ids_are_untouchable(manager_client, org_a, org_b):
    bravo = org_b.listing
    bravo_before = Listing.objects.filter(pk=bravo.pk).values().get()
    row = ["Alpha House", "", "Taken Over", bravo.external_id, "03:00", "", "", "4", "no"]

    preview, _ = import_ok(manager_client, csv_file([row]))

    assert [r.action for r in preview.context["plan"].rows] == ["new"]
    assert "Bravo" not in preview.content.decode()
    assert Listing.objects.filter(pk=bravo.pk).values().get() == bravo_before
    mine = Listing.objects.get(organization=org_a.organization, external_id=bravo.external_id)
    assert mine.name == "Taken Over" and mine.pk != bravo.pk


def test_crafted_organization_is_refused_at_upload_and_ignored_at_confirm(
    manager_client, org_a, org_b
):
    row = ["Alpha House", "", "Loft", "L-1", "", "", "", "", "yes"]
    response = upload(manager_client, csv_file([row]), organization=org_b.organization.pk)
    assert "plan" not in response.context
    assert "Select a valid choice" in str(response.context["form"].errors["organization"])

    preview = upload(manager_client, csv_file([row]))
    # The organization travels with the stored upload, not with the confirm request.
    response = confirm(manager_client, preview, organization=org_b.organization.pk)
    assert response.status_code == 302
    assert Listing.objects.get(external_id="L-1").organization == org_a.organization
    assert org_b.organization.listings.count() == 1


def test_manager_of_several_organizations_picks_one(client, org_a, org_b):
    person = UserFactory(username="both")
    MembershipFactory(organization=org_a.organization, user=person)
    MembershipFactory(organization=org_b.organization, user=person)
    client.force_login(person)
    row = ["Bravo House", "", "Loft", "L-1", "", "", "", "", "yes"]

    response = upload(client, csv_file([row]))
    assert "Choose the organization" in response.content.decode()

    import_ok(client, csv_file([row]), organization=org_b.organization.pk)

    listing = Listing.objects.get(external_id="L-1")
    assert (listing.organization, listing.property) == (org_b.organization, org_b.property)


def test_staff_member_cannot_import_but_can_export(staff_client, org_a):
    changelist = staff_client.get(reverse("admin:properties_listing_changelist"))
    assert 'class="import_link"' not in changelist.content.decode()
    assert 'class="export_link"' in changelist.content.decode()
    assert staff_client.get(IMPORT_URL).status_code == 403
    row = ["Alpha House", "", "Loft", "L-1", "", "", "", "", "yes"]
    assert upload(staff_client, csv_file([row])).status_code == 403
    crafted = {"key": "x" * 43, "import_file_name": "x", "format": "csv"}
    assert staff_client.post(PROCESS_URL, crafted).status_code == 403
    assert not Listing.objects.filter(external_id="L-1").exists()

    export = staff_client.post(EXPORT_URL, {"format": "csv"})
    assert export.status_code == 200
    assert org_a.listing.external_id in export.content.decode("utf-8-sig")


def test_manager_sees_the_import_link(manager_client, org_a):
    changelist = manager_client.get(reverse("admin:properties_listing_changelist"))
    assert 'class="import_link"' in changelist.content.decode()
    assert manager_client.get(IMPORT_URL).status_code == 200


def test_primary_and_secondary_locks_can_swap(manager_client, org_a):
    gate = DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")
    LockAssignmentFactory(listing=org_a.listing, device=gate)
    header = [*HEADER, "primary_lock", "secondary_locks"]
    flat = org_a.listing
    row = ["Alpha House", "", flat.name, flat.external_id, "", "", "", "", "yes"]

    import_ok(manager_client, csv_file([[*row, "Alpha Gate", "Alpha Front Door"]], header=header))

    assert {(a.device.name, a.role) for a in flat.assignments.all()} == {
        ("Alpha Gate", "primary"),
        ("Alpha Front Door", "secondary"),
    }

    import_ok(manager_client, csv_file([[*row, "", ""]], header=header))

    assert flat.assignments.count() == 0


def test_query_count_does_not_grow_with_rows(manager_client, org_a):
    DeviceFactory(connection=org_a.device.connection, name="Alpha Gate")
    for i in range(3):
        PropertyFactory(organization=org_a.organization, name=f"Prop {i}")
    header = [*HEADER, "primary_lock", "secondary_locks"]

    def rows(count, prefix):
        return [
            [
                f"Prop {i % 3}",
                "Europe/Lisbon",
                f"Listing {i}",
                f"{prefix}-{i}",
                "",
                "",
                "",
                "",
                "yes",
                "Alpha Gate",
                "",
            ]
            for i in range(count)
        ]

    def queries(count, prefix):
        with CaptureQueriesContext(connection) as captured:
            preview = upload(manager_client, csv_file(rows(count, prefix), header=header))
            confirm(manager_client, preview)
        assert Listing.objects.filter(external_id__startswith=prefix).count() == count
        return len(captured)

    # Once-per-process lookups (content types for the admin log) are made by the first
    # import; SQLite then writes rows in batches of about 999 / columns, so both sizes stay
    # within one batch: a query per row would add 25.
    queries(1, "W")
    assert queries(30, "B") == queries(5, "A")


def test_every_problem_of_a_row_is_reported(manager_client, org_a):
    row = ["Alpha House", "", "", "L-1", "noon", "", "-5", "13", "yes"]
    response = upload(manager_client, csv_file([row]))
    assert problems_of(response) == [
        (2, "name"),
        (2, "check_in_time"),
        (2, "code_lead_time_minutes"),
        (2, "code_length"),
    ]


def test_moving_a_listing_to_another_property_shows_old_and_new(manager_client, org_a):
    PropertyFactory(organization=org_a.organization, name="Alpha Annex")
    flat = org_a.listing
    row = ["Alpha Annex", "", flat.name, flat.external_id, "", "", "", "", "yes"]

    preview, _ = import_ok(manager_client, csv_file([row]))

    assert "<del>Alpha House</del> → <ins>Alpha Annex</ins>" in preview.content.decode()
    flat.refresh_from_db()
    assert flat.property.name == "Alpha Annex"
    assert flat.organization == org_a.organization


@pytest.mark.parametrize(
    ("cells", "column", "message"),
    [
        (["Alpha Front Door", "", "Alpha Gate"], "locks_without_guest_access", "not one of"),
        (["Twin", "", ""], "primary_lock", "Several devices of Alpha are named “Twin”"),
        (["Alpha Front Door", "Alpha Front Door", ""], "secondary_locks", "also the primary"),
        (["Alpha Front Door", "Gone; Gone", ""], "secondary_locks", "listed twice"),
        (["Gone", "", ""], "primary_lock", "was removed at the provider"),
    ],
)
def test_bad_lock_cells_are_reported(manager_client, org_a, cells, column, message):
    connection_ = org_a.device.connection
    DeviceFactory(connection=connection_, name="Alpha Gate")
    DeviceFactory(connection=connection_, name="Twin")
    DeviceFactory(connection=connection_, name="Twin")
    DeviceFactory(
        connection=connection_,
        name="Gone",
        removed_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    header = [*HEADER, "primary_lock", "secondary_locks", "locks_without_guest_access"]
    row = ["Alpha House", "", "Loft", "L-1", "", "", "", "", "yes", *cells]
    before = snapshot()

    response = upload(manager_client, csv_file([row], header=header))

    assert (2, column) in problems_of(response)
    assert message in response.content.decode()
    assert snapshot() == before


def test_superuser_picks_the_organization(client, org_a, org_b):
    client.force_login(UserFactory(username="root", is_superuser=True))
    row = ["Bravo House", "", "Loft", "L-1", "", "", "", "", "yes"]

    import_ok(client, csv_file([row]), organization=org_b.organization.pk)

    assert Listing.objects.get(external_id="L-1").organization == org_b.organization


def test_export_keeps_the_changelists_filters(manager_client, org_a):
    ListingFactory(property=org_a.property, name="Sleepy Loft", active=False)

    response = manager_client.post(f"{EXPORT_URL}?active__exact=0", {"format": "csv"})

    lines = response.content.decode("utf-8-sig").splitlines()
    assert [line.split(",")[2] for line in lines[1:]] == ["Sleepy Loft"]


def test_json_file_imports(manager_client, org_a):
    data = b'[{"property": "Alpha House", "name": "Loft", "external_id": "J-1", "code_length": 7}]'

    import_ok(manager_client, data, name="listings.json", fmt="json")

    assert Listing.objects.get(external_id="J-1").code_length == 7


def test_new_listings_get_the_same_defaults_as_one_added_by_hand(manager_client, org_a):
    """The import writes new listings in bulk, not through the model: every column it
    does not set must still hold the model's default, and the creation time."""
    header = ["property", "name", "external_id", "primary_lock"]
    started = timezone.now()

    import_ok(
        manager_client,
        csv_file([["Alpha House", "Loft", "LOFT-9", "Alpha Front Door"]], header=header),
    )

    loft = Listing.objects.get(external_id="LOFT-9")
    by_hand = Listing(property=org_a.property)
    for name in (
        "check_in_time",
        "check_out_time",
        "code_lead_time_minutes",
        "code_length",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "override_max_extension_minutes",
        "code_style",
        "prearrival_check_hours",
        "active",
    ):
        assert getattr(loft, name) == getattr(by_hand, name), name
    assert started <= loft.created_at <= timezone.now()
    (assignment,) = loft.assignments.all()
    assert (assignment.device, assignment.role, assignment.guest_access) == (
        org_a.device,
        "primary",
        True,
    )
    assert started <= assignment.created_at <= timezone.now()
