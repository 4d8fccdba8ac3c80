"""Import and export of listings with their locks, inside one organization.

A plain service in four steps, shared by the admin, `manage.py import_listings` and the API:

- parse (`read_table`): the file's bytes as a header and rows, numbered as the spreadsheet
  shows them (the header is row 1). CSV as spreadsheets write it (UTF-8 with or without
  BOM, UTF-16, Windows-1252; comma, semicolon or tab), TSV, XLSX and JSON.
- validate and plan (`plan_import`): the organization's listings, properties, devices and
  assignments named by the file are read in a fixed number of queries, then every row is
  checked in Python, column by column; each problem names its row and the file's own
  column name. The plan says what each row does (new, update, skip) and writes nothing.
- apply (`apply_import`): one short transaction writes everything in bulk (new listings and
  lock assignments in INSERTs of hundreds of rows each), after checking that nothing the
  plan read has changed since; any problem writes nothing.
- then the stays of the listings whose codes depend on what changed re-plan after the
  commit, in short chunks (`listing_locks_changed`, defer=True).

The admin's preview keeps its plan (`dump_plan`, signed) beside the upload; its confirm
writes that plan when nothing the preview read has changed, without reading and checking
the file again (`import_listings(kept_plan=…)`), and plans the file anew otherwise.

Everything is looked up inside the organization: another organization's external ids,
properties and devices are never read, so a file cannot reach them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import functools
import gc
import hashlib
import io
import json
import re
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, models, transaction
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat

from core.bulk_insert import insert_many
from core.spreadsheet_cells import escape_formula, unescape_formula
from properties import services as property_services
from properties.models import (
    CODE_LENGTH_MAX,
    CODE_LENGTH_MIN,
    MAX_CODE_LEAD_MINUTES,
    Listing,
    Organization,
    Property,
)
from properties.services import LISTING_CODE_FIELDS

from .models import Device, LockAssignment
from .services import AssignmentRule, Seat, assignment_problems
from .signals import listing_locks_changed

PRIMARY = LockAssignment.Role.PRIMARY
SECONDARY = LockAssignment.Role.SECONDARY

# The columns, in the order an export writes them.
COLUMNS = (
    "property",
    "time_zone",
    "name",
    "external_id",
    "check_in_time",
    "check_out_time",
    "code_lead_time_minutes",
    "code_length",
    "active",
    "primary_lock",
    "secondary_locks",
    "locks_without_guest_access",
)
COLUMN_ORDER = {column: index for index, column in enumerate(COLUMNS)}
REQUIRED_COLUMNS = ("property", "name", "external_id")
LOCK_COLUMNS = ("primary_lock", "secondary_locks", "locks_without_guest_access")
# Listing fields a row may change besides its property (column = model field).
LISTING_FIELDS = (
    "name",
    "check_in_time",
    "check_out_time",
    "code_lead_time_minutes",
    "code_length",
    "active",
)
# Headers people write for the same column (after lower-casing and spaces → "_").
HEADER_ALIASES = {
    "property_name": "property",
    "timezone": "time_zone",
    "listing": "name",
    "listing_name": "name",
    "check_in": "check_in_time",
    "checkin": "check_in_time",
    "checkin_time": "check_in_time",
    "check_out": "check_out_time",
    "checkout": "check_out_time",
    "checkout_time": "check_out_time",
    "lead_time": "code_lead_time_minutes",
    "code_lead_time": "code_lead_time_minutes",
    "code_lead_time_(minutes)": "code_lead_time_minutes",
    "lead_time_minutes": "code_lead_time_minutes",
}
LIST_SEPARATOR = ";"

NAME_MAX_LENGTH = 200
EXTERNAL_ID_MAX_LENGTH = 100
QUERY_CHUNK = 2000  # values per `__in` lookup: far below every database's parameter limit
WRITE_BATCH = 500
TRUE_WORDS = frozenset({"yes", "y", "true", "1", "on", "x"})
FALSE_WORDS = frozenset({"no", "n", "false", "0", "off"})
TIME_PATTERN = re.compile(r"^(\d{1,2})[:.h](\d{2})(?::(\d{2}))?$")

NEW, UPDATE, SKIP = "new", "update", "skip"


# ---------------------------------------------------------------------------------------
# Columns other apps add (registered in their AppConfig.ready): locks knows nothing of
# what they hold, only how to ask for their cells, their plan and their writes.
# ---------------------------------------------------------------------------------------


@dataclass
class ExtraCell:
    """What a registered column's cell does in one row: shown in the preview (`shown`, and
    `old` when it changes), written through `payload` (JSON-able; None: nothing to write),
    or refused (`problem`: the row is an error and nothing is imported)."""

    shown: str = ""
    old: str | None = None
    payload: object = None
    problem: str = ""


@dataclass(frozen=True)
class ExtraColumn:
    """A column of the listing import and export owned by another app.

    - `export(listing_ids)`: the cells of those listings (a subquery of their ids), as
      text: listing id → cell. Secrets are masked here (the export is a file).
    - `plan(organization, rows)`: rows are (row number, listing id or None for a new
      listing, the cell's text); returns row number → ExtraCell. Reads, never writes.
    - `apply(organization, writes)`: writes are (listing id, payload), inside the import's
      transaction, after new listings have their ids.
    """

    name: str
    export: Callable[..., dict[int, str]]
    plan: Callable[..., dict[int, ExtraCell]]
    apply: Callable[..., None]


EXTRA_COLUMNS: dict[str, ExtraColumn] = {}


def register_column(column: ExtraColumn) -> None:
    """Add a column after Keystay's own (idempotent: a second registration replaces)."""
    EXTRA_COLUMNS[column.name] = column


def all_columns() -> tuple[str, ...]:
    """The columns an export writes and an import reads: locks' own, then registered ones."""
    return COLUMNS + tuple(EXTRA_COLUMNS)


def column_rank(column: str) -> int:
    if column in COLUMN_ORDER:
        return COLUMN_ORDER[column]
    return len(COLUMNS) + list(EXTRA_COLUMNS).index(column)


@dataclass(frozen=True)
class FileFormat:
    key: str
    title: str
    extension: str
    content_type: str


FORMATS = {
    fmt.key: fmt
    for fmt in (
        FileFormat("csv", "CSV", "csv", "text/csv"),
        FileFormat(
            "xlsx",
            "Excel (XLSX)",
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        FileFormat("tsv", "TSV", "tsv", "text/tab-separated-values"),
        FileFormat("json", "JSON", "json", "application/json"),
    )
}


def format_for_name(file_name: str) -> str | None:
    """The format a file's extension says (.txt: Excel's "Unicode text" is tab-separated)."""
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if extension == "txt":
        return "tsv"
    return extension if extension in FORMATS else None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a file is read, planned or written.

    Those steps make hundreds of thousands of small lists, tuples and dicts that hold no
    cycle (reference counting frees them as usual); meanwhile the collector would walk the
    whole heap again and again, which took 40% of the plan's time. It runs again at the
    end. (When another thread paused it already, that thread turns it back on.)
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@functools.cache
def known_time_zones() -> frozenset[str]:
    # Scanning the zone database takes tens of milliseconds: once per process is enough.
    return frozenset(zoneinfo.available_timezones())


# ---------------------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (spreadsheet row, the file's column) and what."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"Row {self.row}")
        if self.column:
            where.append(f"column “{self.column}”")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


class ImportRefused(Exception):
    """The import wrote nothing; `problems` say why."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(str(p) for p in problems[:5]))
        self.problems = problems


class StalePlan(Exception):
    """What the plan read changed before it was applied (another change meanwhile)."""


# ---------------------------------------------------------------------------------------
# Parse: what spreadsheets really write
# ---------------------------------------------------------------------------------------


@dataclass
class Table:
    """A file's header and its rows, each with its number as the spreadsheet shows it."""

    headers: list
    rows: list[tuple[int, list]]


def decode_text(data: bytes | str) -> str:
    """Text of a CSV file as Excel, Numbers, LibreOffice or Google Sheets saved it."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")  # Excel's "Unicode text"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Excel's plain "CSV" on Windows is written in the ANSI code page.
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(text: str) -> str:
    """Comma, semicolon (locales with decimal commas) or tab, decided on the header line,
    whose column names contain none of them."""
    header = text.split("\n", 1)[0]
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cells(line: Sequence) -> list:
    """A row's cells with the apostrophe an export put before formula-like text removed
    (`core.spreadsheet_cells`), so an exported file re-imports to the same values."""
    return [
        unescape_formula(cell) if type(cell) is str and cell[:1] == "'" else cell for cell in line
    ]


class TooBig(Exception):
    """The file is beyond one of the import's limits; `message` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def size_problem(size: int) -> str | None:
    """Why a file of `size` bytes is refused before anything reads it, or None. The admin's
    form, the API and the command ask this first; `import_listings` asks again."""
    limit = settings.LISTING_IMPORT_MAX_BYTES
    if size > limit:
        return (
            f"The file is larger than {filesizeformat(limit)}, the most Keystay imports at once."
        )
    return None


def _too_many_rows() -> TooBig:
    limit = settings.LISTING_IMPORT_MAX_ROWS
    return TooBig(
        f"The file has more than {limit:,} rows, the most Keystay imports at once: "
        "split it into several files."
    )


def _bounded(lines: Iterable[Sequence]) -> Iterator[Sequence]:
    """The lines of a file, stopping at the row limit (the header and LISTING_IMPORT_MAX_ROWS
    rows) rather than reading a huge file through before counting it."""
    limit = settings.LISTING_IMPORT_MAX_ROWS + 1
    for count, line in enumerate(lines, 1):
        if count > limit:
            raise _too_many_rows()
        yield line


def _table(lines: Iterable[Sequence]) -> Table:
    rows = [_cells(line) for line in _bounded(lines)]
    while rows and not any(cell_text(cell) for cell in rows[-1]):
        rows.pop()  # the trailing empty lines spreadsheets leave
    if not rows:
        return Table(headers=[], rows=[])
    # Blank rows stay numbered so that row numbers match the spreadsheet's.
    return Table(headers=rows[0], rows=list(enumerate(rows[1:], start=2)))


def _unreadable(file_format: str, error: BaseException) -> ImportRefused:
    return ImportRefused(
        [
            Problem(
                None,
                None,
                f"The file could not be read as {FORMATS[file_format].title} "
                f"({type(error).__name__}). Save it again from your spreadsheet.",
            )
        ]
    )


def read_table(*, data: bytes, file_format: str) -> Table:
    """Parse a file; raises ImportRefused when it cannot be read as that format, or is
    beyond the import's limits (bytes, rows, an XLSX's unpacked size)."""
    if file_format not in FORMATS:
        raise ImportRefused([Problem(None, None, f"Unknown file format “{file_format}”.")])
    too_large = size_problem(len(data))
    if too_large:
        raise ImportRefused([Problem(None, None, too_large)])
    try:
        if file_format in ("csv", "tsv"):
            text = decode_text(data)
            return _table(
                csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text))
            )
        if file_format == "xlsx":
            return _read_xlsx(data)
        return _read_json(data)
    except TooBig as refused:
        raise ImportRefused([Problem(None, None, refused.message)]) from refused
    # RecursionError: JSON nested thousands of levels deep.
    except (ValueError, KeyError, OSError, csv.Error, RecursionError) as error:
        raise _unreadable(file_format, error) from error


def _read_xlsx(data: bytes) -> Table:
    import zipfile

    import openpyxl

    # An XLSX is a zip: a few kilobytes can unpack to gigabytes of XML, which openpyxl
    # would parse to the end. The sizes the zip declares bound what reading it unpacks
    # (Python's zipfile stops at a member's declared size), so they are checked first.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as error:
        raise ValueError("not an XLSX workbook") from error
    limit = settings.LISTING_IMPORT_MAX_UNPACKED_BYTES
    if unpacked > limit:
        raise TooBig(
            f"The workbook unpacks to more than {filesizeformat(limit)}, the most Keystay "
            "reads: save only the listings' sheet, or split it into several files."
        )
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _table(book.active.iter_rows(values_only=True))
        finally:
            book.close()
    except TooBig:
        raise
    except Exception as error:
        # openpyxl reports a damaged workbook (malformed XML inside, a missing part, a
        # wrong type) with whatever its XML parser or its own code raised: any of those is
        # "this file cannot be read", never a server error.
        raise ValueError(f"not a readable XLSX workbook ({type(error).__name__})") from error


def _read_json(data: bytes) -> Table:
    """A list of objects, one per listing (an export's shape); row n is object n − 1."""
    items = json.loads(decode_text(data))
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("a JSON file holds a list of objects, one per listing")
    if len(items) > settings.LISTING_IMPORT_MAX_ROWS:
        raise _too_many_rows()
    headers: dict[str, None] = {}
    for item in items:
        headers.update(dict.fromkeys(item))
    return Table(
        headers=list(headers),
        rows=[
            (number, _cells([item.get(h) for h in headers]))
            for number, item in enumerate(items, 2)
        ],
    )


# ---------------------------------------------------------------------------------------
# Cell values
# ---------------------------------------------------------------------------------------


class CellError(ValueError):
    pass


def cell_text(value) -> str:
    """A cell as text: spreadsheets give numbers (1234.0), booleans and dates too."""
    if type(value) is str:  # most cells (a CSV has nothing else): the quick way first
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse_time(value) -> datetime.time | None:
    if isinstance(value, datetime.datetime):
        value = value.time()
    if isinstance(value, datetime.time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    text = cell_text(value)
    if not text:
        return None
    match = TIME_PATTERN.match(text)
    if match:
        hour, minute = int(match[1]), int(match[2])
        if hour < 24 and minute < 60 and int(match[3] or 0) < 60:
            return datetime.time(hour, minute)
    raise CellError(
        f"“{text}” is not a time of day: write it as HH:MM on a 24-hour clock, such as "
        "15:00, or leave the cell empty to use the property's time."
    )


def parse_whole_number(value, *, low: int, high: int, what: str) -> int | None:
    text = cell_text(value)
    if not text:
        return None
    try:
        number = int(text)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise CellError(
            f"“{text}” is not allowed: {what} is a whole number from {low} to {high}, "
            "or an empty cell for Keystay's default."
        )
    return number


def parse_yes_no(value) -> bool | None:
    if isinstance(value, bool):
        return value
    text = cell_text(value).lower()
    if not text:
        return None
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise CellError(f"“{cell_text(value)}” is neither yes nor no.")


def parse_names(value) -> list[str]:
    text = cell_text(value)
    if LIST_SEPARATOR not in text:  # most cells name one device, or none
        return [text] if text else []
    return [name.strip() for name in text.split(LIST_SEPARATOR) if name.strip()]


PARSERS = {
    "check_in_time": parse_time,
    "check_out_time": parse_time,
    "code_lead_time_minutes": functools.partial(
        parse_whole_number, low=0, high=MAX_CODE_LEAD_MINUTES, what="the code lead time in minutes"
    ),
    "code_length": functools.partial(
        parse_whole_number,
        low=CODE_LENGTH_MIN,
        high=CODE_LENGTH_MAX,
        what="the number of digits of guest codes",
    ),
    "active": parse_yes_no,
}


def show(value) -> str:
    """A value as the preview and the export write it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.time):
        return f"{value.hour:02}:{value.minute:02}"  # strftime("%H:%M"), three times faster
    return str(value)


def lock_cell(column: str, assignments: Iterable[tuple[str, bool, str]]) -> str:
    """A lock column's text for (role, guest access, device name) assignments."""
    if column == "primary_lock":
        names = [name for role, _guest, name in assignments if role == PRIMARY]
    elif column == "secondary_locks":
        names = [name for role, _guest, name in assignments if role == SECONDARY]
    else:
        names = [name for _role, guest, name in assignments if not guest]
    return names[0] if len(names) == 1 else f"{LIST_SEPARATOR} ".join(sorted(names))


# ---------------------------------------------------------------------------------------
# What the organization has today (read as tuples: model instances of 10,000 listings
# and their devices take seconds to build)
# ---------------------------------------------------------------------------------------

# pk, property id, then LISTING_FIELDS in order
ListingRow = tuple
# pk, device id, device name, device removed, role, guest access
AssignedRow = tuple


@dataclass
class Existing:
    """Everything the plan reads; compared again inside the write transaction."""

    listings: dict[str, ListingRow]  # by external id
    properties: dict[str, tuple[int, str]]  # name → (pk, time zone)
    devices: dict[str, list[tuple[int, bool]]]  # name → [(pk, removed)]
    assignments: dict[int, list[AssignedRow]]  # listing id → assignments, by pk
    property_names: dict[int, str]  # pk → name, for the properties listings leave

    def same_as(self, other: Existing) -> bool:
        return (self.listings, self.properties, self.devices, self.assignments) == (
            other.listings,
            other.properties,
            other.devices,
            other.assignments,
        )

    def fingerprint(self) -> str:
        """A digest of what `same_as` compares, for a plan kept without what it read."""
        text = repr(
            [
                sorted(self.listings.items()),
                sorted(self.properties.items()),
                sorted(self.devices.items()),
                sorted(self.assignments.items()),
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()


def in_chunks(queryset: QuerySet, lookup: str, values: Iterable) -> Iterator:
    values = list(values)
    for start in range(0, len(values), QUERY_CHUNK):
        yield from queryset.filter(**{f"{lookup}__in": values[start : start + QUERY_CHUNK]})


def load_existing(
    *,
    organization: Organization,
    external_ids: Iterable[str],
    property_names: Iterable[str],
    device_names: Iterable[str],
    with_locks: bool,
) -> Existing:
    org = organization.pk
    # Unordered: the model's ordering would join every listing's property and sort them.
    listings = {
        row[1]: (row[0], *row[2:])
        for row in in_chunks(
            Listing.objects.filter(organization_id=org)
            .order_by()
            .values_list("pk", "external_id", "property_id", *LISTING_FIELDS),
            "external_id",
            external_ids,
        )
    }
    properties = {
        name: (pk, zone)
        for pk, name, zone in in_chunks(
            Property.objects.filter(organization_id=org).values_list("pk", "name", "time_zone"),
            "name",
            property_names,
        )
    }
    devices: dict[str, list[tuple[int, bool]]] = {}
    for pk, name, removed_at in in_chunks(
        Device.objects.filter(organization_id=org)
        .order_by("pk")
        .values_list("pk", "name", "removed_at"),
        "name",
        device_names,
    ):
        devices.setdefault(name, []).append((pk, removed_at is not None))
    assignments: dict[int, list[AssignedRow]] = {}
    if with_locks:
        # By listing alone (the organization's, read above): a filter on the device's
        # organization too makes SQLite scan every assignment of the organization per chunk.
        rows = LockAssignment.objects.order_by("pk").values_list(
            "pk",
            "listing_id",
            "device_id",
            "device__name",
            "device__removed_at",
            "role",
            "guest_access",
        )
        listing_ids = [row[0] for row in listings.values()]
        for pk, listing_id, device_id, name, removed_at, role, guest in in_chunks(
            rows, "listing_id", listing_ids
        ):
            assignments.setdefault(listing_id, []).append(
                (pk, device_id, name, removed_at is not None, role, guest)
            )
    names = {pk: name for name, (pk, _zone) in properties.items()}
    others = {row[1] for row in listings.values()} - set(names)
    names.update(
        in_chunks(
            Property.objects.filter(organization_id=org).values_list("pk", "name"), "pk", others
        )
    )
    return Existing(listings, properties, devices, assignments, names)


# ---------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------


@dataclass
class LockPlan:
    """The lock assignment writes one row asks for."""

    delete: list[int] = field(default_factory=list)  # assignment ids
    update: list[tuple[int, str, bool]] = field(default_factory=list)  # pk, role, guest
    create: list[tuple[int, str, bool]] = field(default_factory=list)  # device id, role, guest

    def __bool__(self) -> bool:
        return bool(self.delete or self.update or self.create)


@dataclass
class RowPlan:
    """What one row does: its action, its cells (old value where one changes), its writes."""

    row: int
    external_id: str
    action: str = SKIP
    cells: list[tuple[str, str, str | None]] = field(default_factory=list)
    property_name: str = ""
    new_property: bool = False
    listing_id: int | None = None
    values: dict = field(default_factory=dict)  # listing fields to write (all, when new)
    lock_plan: LockPlan | None = None
    extra: dict = field(default_factory=dict)  # registered column → its ExtraCell payload

    def as_dict(self) -> dict:
        return {
            "row": self.row,
            "external_id": self.external_id,
            "action": self.action,
            "changes": {column: new for column, new, old in self.cells if old is not None},
        }


@dataclass
class ImportPlan:
    organization: Organization
    rows: list[RowPlan]
    problems: list[Problem]
    existing: Existing | None = None
    new_properties: dict[str, str] = field(default_factory=dict)  # name → time zone
    columns: list[str] = field(default_factory=list)  # the file's, in COLUMNS order
    lookups: dict = field(default_factory=dict)  # what load_existing was asked
    # A kept plan (`load_plan`) holds the digest of what it read instead of `existing`.
    fingerprint: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def still_matches(self, current: Existing) -> bool:
        """Whether the organization still has what the plan was made from."""
        if self.existing is not None:
            return current.same_as(self.existing)
        return bool(self.fingerprint) and current.fingerprint() == self.fingerprint

    def totals(self) -> dict[str, int]:
        counts = {NEW: 0, UPDATE: 0, SKIP: 0}
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def summary(self) -> str:
        t = self.totals()
        return f"{t[NEW]} new, {t[UPDATE]} updated, {t[SKIP]} unchanged"


def _read_header(table: Table, problems: list[Problem]) -> tuple[dict[str, str], list[int]]:
    """Canonical column → the file's header text, and the indexes of the named columns."""
    canonical, seen = [], {}
    for header in table.headers:
        text = cell_text(header).replace("\ufeff", "")
        key = re.sub(r"[\s\-]+", "_", text.lower())
        key = HEADER_ALIASES.get(key, key)
        canonical.append(key)
        if not key:
            continue
        if key not in COLUMNS and key not in EXTRA_COLUMNS:
            problems.append(
                Problem(
                    1,
                    text,
                    "Keystay does not know this column. Remove it, or name it as one of: "
                    f"{', '.join(all_columns())}.",
                )
            )
        elif key in seen:
            problems.append(Problem(1, text, f"The column appears twice (also as “{seen[key]}”)."))
        else:
            seen[key] = text
    for column in REQUIRED_COLUMNS:
        if column not in seen:
            problems.append(
                Problem(
                    1,
                    column,
                    f"The file has no “{column}” column. Every file needs the columns "
                    f"{', '.join(REQUIRED_COLUMNS)} (and time_zone to create a property).",
                )
            )
    unnamed = [i for i, key in enumerate(canonical) if not key]
    for number, cells in table.rows:
        if any(i < len(cells) and cell_text(cells[i]) for i in unnamed):
            problems.append(
                Problem(
                    number,
                    None,
                    "A cell has a value in a column without a header: name the column or "
                    "clear it.",
                )
            )
    index: dict[str, int] = {}
    for i, key in enumerate(canonical):
        if key in seen:
            index.setdefault(key, i)
    return seen, index


def _present_rows(table: Table, index: dict[str, int]) -> list[tuple[int, dict]]:
    """(row number, column → cell) of the rows with any value; blank rows are dropped."""
    rows = []
    for number, cells in table.rows:
        width = len(cells)
        values = {column: cells[i] if i < width else None for column, i in index.items()}
        if any(cell_text(value) for value in values.values()):
            rows.append((number, values))
    return rows


def plan_import(*, organization: Organization, table: Table) -> ImportPlan:
    """Check every row and say what it would do; reads the organization, writes nothing."""
    problems: list[Problem] = []
    columns, index = _read_header(table, problems)
    if problems:  # no row is worth reading under a wrong header
        return ImportPlan(organization, [], sorted(problems, key=_order))
    rows = _present_rows(table, index)
    external_ids = {cell_text(values["external_id"]) for _n, values in rows} - {""}
    property_names = {cell_text(values["property"]) for _n, values in rows} - {""}
    device_names: set[str] = set()
    for _number, values in rows:
        for column in ("primary_lock", "secondary_locks"):
            if column in values:
                device_names.update(parse_names(values[column]))
    lookups = {
        "external_ids": sorted(external_ids),
        "property_names": sorted(property_names),
        "device_names": sorted(device_names),
        "with_locks": bool(set(columns) & set(LOCK_COLUMNS)),
    }
    existing = load_existing(organization=organization, **lookups)
    plan = _Planner(organization, columns, existing).plan(rows)
    plan.lookups = lookups
    return plan


def _order(problem: Problem) -> int:
    return problem.row or 0


class _Planner:
    def __init__(self, organization: Organization, columns: dict[str, str], existing: Existing):
        self.organization = organization
        self.columns = columns  # canonical → the file's header
        self.existing = existing
        self.rows_by_external_id: dict[str, list[int]] = {}
        self.property_problems: dict[int, str] = {}
        self.new_properties: dict[str, str] = {}

    def plan(self, rows: list[tuple[int, dict]]) -> ImportPlan:
        for number, values in rows:
            external_id = cell_text(values["external_id"])
            if external_id:
                self.rows_by_external_id.setdefault(external_id, []).append(number)
        self._plan_properties(rows)
        extra_cells = self._plan_extra_columns(rows)
        problems: list[Problem] = []
        planned: list[RowPlan] = []
        for number, values in rows:
            errors: list[Problem] = []

            def error(column: str, message: str, number=number, errors=errors) -> None:
                errors.append(Problem(number, self.columns.get(column, column), message))

            cleaned = self._clean(number, values, error)
            row = RowPlan(row=number, external_id=cleaned.get("external_id", ""))
            listing = self.existing.listings.get(row.external_id) if row.external_id else None
            lock_plan = None
            if not errors:
                lock_plan = self._plan_locks(listing, values, error)
            for column, cells in extra_cells.items():
                cell = cells.get(number)
                if cell is not None and cell.problem:
                    error(column, cell.problem)
            if errors:
                problems.extend(errors)
                continue
            self._apply(row, listing, values, cleaned)
            if lock_plan is not None:
                row.lock_plan, cells = lock_plan
                row.cells.extend(cells)
                if row.lock_plan and row.action == SKIP:
                    row.action = UPDATE
            for column, cells in extra_cells.items():
                cell = cells.get(number) or ExtraCell()
                row.cells.append((column, cell.shown, cell.old))
                if cell.payload is not None:
                    row.extra[column] = cell.payload
                    if row.action == SKIP:
                        row.action = UPDATE
            row.cells.sort(key=lambda cell: column_rank(cell[0]))
            planned.append(row)
        return ImportPlan(
            organization=self.organization,
            rows=planned if not problems else [],
            problems=sorted(problems, key=_order),
            existing=self.existing,
            new_properties=self.new_properties,
            columns=[column for column in all_columns() if column in self.columns],
        )

    def _plan_extra_columns(self, rows: list[tuple[int, dict]]) -> dict[str, dict]:
        """Each registered column the file has: its owner's plan of every row, in one call
        (so that it reads what it needs in a fixed number of queries)."""
        planned = {}
        for name, column in EXTRA_COLUMNS.items():
            if name not in self.columns:
                continue
            cells = []
            for number, values in rows:
                listing = self.existing.listings.get(cell_text(values["external_id"]))
                cells.append((number, listing[0] if listing else None, cell_text(values[name])))
            planned[name] = column.plan(self.organization, cells)
        return planned

    def _plan_properties(self, rows: list[tuple[int, dict]]) -> None:
        """The properties the file names for the first time, with their time zone.

        A new property takes the first valid time zone given for it; a row that gives it
        another one, or an existing property another than its own, is an error (a
        property's time zone moves every stay's times: it is changed on its own page).
        """
        zones = known_time_zones()
        properties = self.existing.properties
        chosen: dict[str, tuple[str, int]] = {}  # new property → (time zone, row)
        for number, values in rows:
            name = cell_text(values["property"])
            zone = cell_text(values.get("time_zone"))
            if not name or zone not in zones:
                continue  # reported with the row
            if name in properties:
                if zone != properties[name][1]:
                    self.property_problems[number] = (
                        f"The property “{name}” has the time zone {properties[name][1]}, "
                        f"not {zone}. Change a property's time zone on the property's page "
                        "(it moves the times of every stay), or correct the file."
                    )
            elif name not in chosen:
                chosen[name] = (zone, number)
            elif chosen[name][0] != zone:
                self.property_problems[number] = (
                    f"Row {chosen[name][1]} gives the new property “{name}” the time zone "
                    f"{chosen[name][0]}; this row says {zone}. A property has one time zone."
                )
        for number, values in rows:
            name = cell_text(values["property"])
            zone = cell_text(values.get("time_zone"))
            if name and name not in properties and name not in chosen and not zone:
                self.property_problems[number] = (
                    f"“{name}” is a new property: give its time zone (such as Europe/Lisbon) "
                    "in the time_zone column so that Keystay can create it."
                )
        self.new_properties = {
            name: zone for name, (zone, _row) in chosen.items() if len(name) <= NAME_MAX_LENGTH
        }

    def _clean(self, number: int, values: dict, error) -> dict:
        cleaned: dict[str, object] = {}
        external_id = cell_text(values["external_id"])
        if not external_id:
            error(
                "external_id",
                "The external id is empty. Every row needs the listing's id in your PMS or "
                "channel manager: it decides whether the row updates a listing or adds one.",
            )
        elif len(external_id) > EXTERNAL_ID_MAX_LENGTH:
            error("external_id", f"Longer than {EXTERNAL_ID_MAX_LENGTH} characters.")
        else:
            cleaned["external_id"] = external_id
            others = [n for n in self.rows_by_external_id.get(external_id, []) if n != number]
            if others:
                error(
                    "external_id",
                    f"The external id “{external_id}” is also in row "
                    f"{', '.join(str(n) for n in others)}: a listing may appear only once in "
                    "a file.",
                )

        property_name = cell_text(values["property"])
        zone = cell_text(values.get("time_zone"))
        if zone and zone not in known_time_zones():
            error(
                "time_zone",
                f"“{zone}” is not a time zone Keystay knows: use an IANA name such as "
                "Europe/Lisbon or America/New_York.",
            )
        if not property_name:
            error("property", "The property is empty: give the name of the listing's property.")
        elif len(property_name) > NAME_MAX_LENGTH:
            error("property", f"Longer than {NAME_MAX_LENGTH} characters.")
        elif number in self.property_problems:
            column = "time_zone" if property_name in self.existing.properties else "property"
            error(column, self.property_problems[number])
        elif property_name in self.existing.properties or property_name in self.new_properties:
            cleaned["property"] = property_name
        # else: a new property with a wrong time zone, reported on time_zone above

        name = cell_text(values["name"])
        if not name:
            error("name", "The listing's name is empty.")
        elif len(name) > NAME_MAX_LENGTH:
            error("name", f"Longer than {NAME_MAX_LENGTH} characters.")
        else:
            cleaned["name"] = name

        for column, parse in PARSERS.items():
            if column in values:
                try:
                    cleaned[column] = parse(values[column])
                except CellError as problem:
                    error(column, str(problem))
        if cleaned.get("active", False) is None:
            del cleaned["active"]  # an empty cell keeps the listing as it is (a new one is active)
        return cleaned

    def _apply(self, row: RowPlan, listing: ListingRow | None, values: dict, cleaned: dict):
        """Fill the row's plan: its action, cells (old → new) and the listing fields to write."""
        new = listing is None
        prop_name = cleaned["property"]
        row.property_name = prop_name
        row.new_property = prop_name in self.new_properties
        current = {} if new else dict(zip(LISTING_FIELDS, listing[2:], strict=True))
        if new:
            row.action = NEW
            row.values = {"property": prop_name}
        else:
            row.listing_id = listing[0]
        old_property = None if new else self.existing.property_names.get(listing[1])
        if not new and old_property != prop_name:
            row.values["property"] = prop_name
        moved = not new and old_property != prop_name
        row.cells.append(("property", prop_name, old_property if moved else None))
        if "time_zone" in values:
            zone = self.new_properties.get(prop_name) or self.existing.properties[prop_name][1]
            row.cells.append(("time_zone", zone, None))
        row.cells.append(("external_id", row.external_id, None))
        for column in LISTING_FIELDS:
            if column not in cleaned:
                if column in values:  # an empty "active" cell
                    shown = show(current.get(column, True))
                    row.cells.append((column, shown, None))
                continue
            value = cleaned[column]
            if new:
                row.values[column] = value
                row.cells.append((column, show(value), None))
            else:
                old = current[column]
                if old != value:
                    row.values[column] = value
                row.cells.append((column, show(value), show(old) if old != value else None))
        if not new and row.values:
            row.action = UPDATE

    def _plan_locks(self, listing: ListingRow | None, values: dict, error):
        """The listing's lock assignments as the row wants them, and the writes to get there.

        A lock column that the file leaves out leaves that part as it is; a present one
        (even empty) is the whole truth for its part. The rules every surface shares (one
        primary, a device once, no device removed at the provider) are checked by
        `locks.services.assignment_problems`; the row words them for its columns.
        """
        present = [column for column in LOCK_COLUMNS if column in values]
        if not present:
            return None
        existing = self.existing.assignments.get(listing[0], []) if listing else []
        assigned_by_name: dict[str, list[AssignedRow]] = {}
        for assignment in existing:
            assigned_by_name.setdefault(assignment[2], []).append(assignment)
        org = self.organization
        failed = False

        def resolve(column: str, name: str) -> tuple[int, bool] | None:
            """(device id, removed) for a name: this listing's own device first."""
            nonlocal failed
            assigned = assigned_by_name.get(name, [])
            if len(assigned) == 1:
                return assigned[0][1], assigned[0][3]  # kept even if removed since
            candidates = self.existing.devices.get(name, [])
            live = [device for device in candidates if not device[1]]
            if len(live) == 1:
                return live[0]
            if len(live) > 1 or len(assigned) > 1:
                error(
                    column,
                    f"Several devices of {org} are named “{name}”: rename one at the "
                    "provider, or assign this lock on the listing's page.",
                )
            elif candidates:
                return candidates[0]  # refused below, by the shared rules
            else:
                error(
                    column,
                    f"{org} has no device named “{name}”. Write the name exactly as the "
                    "Devices page shows it.",
                )
            failed = True
            return None

        # Seats as the row wants them: (column it came from, name, device id, removed, role,
        # guest access); the existing ones of a part the file leaves out come first.
        seats: list[list] = []
        guest_by_device = {a[1]: a[5] for a in existing}
        for _pk, device_id, name, removed, role, guest in existing:
            if (role == PRIMARY and "primary_lock" not in values) or (
                role == SECONDARY and "secondary_locks" not in values
            ):
                seats.append([None, name, device_id, removed, role, guest])
        for column, role in (("primary_lock", PRIMARY), ("secondary_locks", SECONDARY)):
            for name in parse_names(values.get(column)):
                device = resolve(column, name)
                if device is not None:
                    # A device that changes role keeps its guest flag.
                    guest = guest_by_device.get(device[0], True)
                    seats.append([column, name, device[0], device[1], role, guest])
        if failed:
            return None
        assigned_ids = set(guest_by_device)
        problems = assignment_problems(
            organization_id=org.pk,
            seats=[
                Seat(
                    device_id=s[2],
                    device_organization_id=org.pk,  # looked up in the organization only
                    device_removed=s[3],
                    role=s[4],
                    assigned=s[2] in assigned_ids,
                )
                for s in seats
            ],
        )
        for problem in problems:
            column, name = seats[problem.index][:2]
            other = seats[problem.other] if problem.other is not None else None
            if problem.rule == AssignmentRule.ONE_PRIMARY:
                error("primary_lock", "A listing has one primary lock: name only one device.")
            elif problem.rule == AssignmentRule.DEVICE_REMOVED:
                error(column, f"“{name}” was removed at the provider: it cannot be assigned.")
            elif problem.rule == AssignmentRule.DEVICE_ONCE and other[0] == column:
                error(column, f"“{name}” is listed twice.")
            elif problem.rule == AssignmentRule.DEVICE_ONCE and other[0] is None:
                error(
                    column,
                    f"“{name}” is this listing's primary lock: add a primary_lock column to "
                    "change the primary lock.",
                )
            elif problem.rule == AssignmentRule.DEVICE_ONCE:
                error(
                    column,
                    f"“{name}” is also the primary lock: a device serves a listing once.",
                )
            else:
                error(column, f"“{name}” belongs to another organization.")
        if problems:
            return None

        desired = {s[2]: [s[4], s[5], s[1]] for s in seats}  # device → role, guest, name
        if "locks_without_guest_access" in values:
            by_name = {entry[2]: device_id for device_id, entry in desired.items()}
            without = set()
            for name in parse_names(values["locks_without_guest_access"]):
                if name not in by_name:
                    error(
                        "locks_without_guest_access",
                        f"“{name}” is not one of this listing's locks: name it under "
                        "primary_lock or secondary_locks too.",
                    )
                    return None
                without.add(by_name[name])
            for device_id, entry in desired.items():
                entry[1] = device_id not in without

        plan = LockPlan()
        for pk, device_id, _name, _removed, role, guest in existing:
            entry = desired.get(device_id)
            if entry is None:
                plan.delete.append(pk)
            elif (entry[0], entry[1]) != (role, guest):
                plan.update.append((pk, entry[0], entry[1]))
        plan.create = [
            (device_id, role, guest)
            for device_id, (role, guest, _name) in desired.items()
            if device_id not in assigned_ids
        ]
        after = list(desired.values())
        before = [(a[4], a[5], a[2]) for a in existing]
        cells = []
        for column in present:
            new_value = lock_cell(column, after)
            old_value = lock_cell(column, before) if listing else new_value
            cells.append((column, new_value, old_value if old_value != new_value else None))
        return plan, cells


# ---------------------------------------------------------------------------------------
# Apply
# ---------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    plan: ImportPlan
    written: bool
    replanned_listing_ids: list[int] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return self.plan.problems

    @property
    def ok(self) -> bool:
        return self.plan.ok

    def totals(self) -> dict[str, int]:
        return self.plan.totals()


def apply_import(*, plan: ImportPlan) -> list[int]:
    """Write a plan in one short transaction; return the listings whose stays re-plan.

    Raises StalePlan, writing nothing, when what the plan read changed since (a device
    removed, a listing edited, an assignment made): the caller plans again.
    """
    if not plan.ok:
        raise ImportRefused(plan.problems)
    org = plan.organization
    rows = [row for row in plan.rows if row.action != SKIP]
    with transaction.atomic(), collector_paused():
        # The plan was made outside this transaction (its Python checks take a while, and
        # on SQLite a write transaction locks out every other writer): make sure the rows
        # it read are still what they were. Only queries run from here on.
        current = load_existing(organization=org, **plan.lookups)
        if not plan.still_matches(current):
            raise StalePlan()
        properties = {name: pk for name, (pk, _zone) in current.properties.items()}
        used = {row.values.get("property") for row in rows}
        properties.update(
            property_services.properties_bulk_create(
                organization=org,
                zones={name: zone for name, zone in plan.new_properties.items() if name in used},
            )
        )

        _create_listings([row for row in rows if row.action == NEW], properties, org)
        _update_listings([row for row in rows if row.action == UPDATE and row.values], properties)
        lock_rows = [row for row in rows if row.lock_plan]
        _write_assignments(lock_rows)
        for name, column in EXTRA_COLUMNS.items():
            writes = [(row.listing_id, row.extra[name]) for row in rows if name in row.extra]
            if writes:
                column.apply(org, writes)
        replan = sorted(
            {row.listing_id for row in lock_rows}
            | {
                row.listing_id
                for row in rows
                if row.action == UPDATE and LISTING_CODE_FIELDS & set(row.values)
            }
        )
        # Stays re-plan after the commit, in short transactions of their own (a receiver
        # in reservations): this transaction stays as short as the writes.
        listing_locks_changed.send(sender=Listing, listing_ids=replan, defer=True)
    return replan


# A new listing's columns that a row may set (any other takes the model's default).
NEW_LISTING_COLUMNS = ("organization_id", "external_id", "property_id", *LISTING_FIELDS)


def _create_listings(rows: list[RowPlan], properties: dict[str, int], org: Organization):
    """Insert the new listings, then read their ids back by external id (unique within the
    organization, and every row has one): an INSERT that returns ids is not available
    to a batch of rows on every database."""
    if not rows:
        return
    omitted = object()
    property_services.listings_bulk_insert(
        columns=NEW_LISTING_COLUMNS,
        rows=[
            (
                org.pk,
                row.external_id,
                properties[row.values["property"]],
                *(row.values.get(name, omitted) for name in LISTING_FIELDS),
            )
            for row in rows
        ],
        omitted=omitted,
    )
    ids = dict(
        in_chunks(
            Listing.objects.filter(organization_id=org.pk)
            .order_by()
            .values_list("external_id", "pk"),
            "external_id",
            [row.external_id for row in rows],
        )
    )
    for row in rows:
        row.listing_id = ids[row.external_id]


def _update_listings(rows: list[RowPlan], properties: dict[str, int]) -> None:
    """Write changed listing fields, grouped by field and new value (see
    properties.services.listings_bulk_update)."""
    groups: dict[tuple[str, object], list[int]] = {}
    for row in rows:
        for name, value in row.values.items():
            if name == "property":
                name, value = "property_id", properties[value]
            groups.setdefault((name, value), []).append(row.listing_id)
    property_services.listings_bulk_update(changes=groups)


def _write_assignments(rows: list[RowPlan]) -> None:
    deletes = [pk for row in rows for pk in row.lock_plan.delete]
    for start in range(0, len(deletes), QUERY_CHUNK):
        LockAssignment.objects.filter(pk__in=deletes[start : start + QUERY_CHUNK]).delete()
    updates = [
        LockAssignment(pk=pk, role=role, guest_access=guest)
        for row in rows
        for pk, role, guest in row.lock_plan.update
    ]
    # Demotions first: the database allows one primary per listing at every moment.
    for batch in (
        [a for a in updates if a.role != PRIMARY],
        [a for a in updates if a.role == PRIMARY],
    ):
        LockAssignment.objects.bulk_update(batch, ["role", "guest_access"], batch_size=WRITE_BATCH)
    insert_many(
        LockAssignment,
        ("listing_id", "device_id", "role", "guest_access"),
        [
            (row.listing_id, device, role, guest)
            for row in rows
            for device, role, guest in row.lock_plan.create
        ],
    )


def import_listings(
    *,
    organization: Organization,
    data: bytes,
    file_format: str,
    dry_run: bool = False,
    kept_plan: str | None = None,
) -> ImportResult:
    """Parse, check and (unless dry_run) write a file of listings: all rows or none.

    `kept_plan` is what `dump_plan` made of the same file at its preview: it is written
    as it is when nothing it read has changed since (then the file is not read and
    checked again, and `result.plan` holds each row's action but not its cells);
    otherwise, or when it is not a plan of this file for this organization, the file is
    read and checked again. Problems (with the file, a row, or a change made meanwhile)
    come back in `result.problems`, and then nothing was written.
    """
    if kept_plan is not None and not dry_run:
        with collector_paused():
            plan = load_plan(
                kept_plan, organization=organization, data=data, file_format=file_format
            )
        if plan is not None:
            result = _try_apply(plan)
            if result is not None:
                return result
            # Something changed since the preview: plan again against what is there now.
    try:
        with collector_paused():
            table = read_table(data=data, file_format=file_format)
    except ImportRefused as refused:
        return ImportResult(ImportPlan(organization, [], refused.problems), written=False)
    for _attempt in range(2):
        with collector_paused():
            plan = plan_import(organization=organization, table=table)
        if dry_run or not plan.ok:
            return ImportResult(plan, written=False)
        result = _try_apply(plan)
        if result is not None:
            return result
        # Something changed meanwhile: plan again against what is there now, once.
    plan.problems = [
        Problem(
            None,
            None,
            "The organization's listings or locks kept changing during the import, so "
            "nothing was imported: try again.",
        )
    ]
    return ImportResult(plan, written=False)


def _try_apply(plan: ImportPlan) -> ImportResult | None:
    """Apply a plan; None when what it read has changed (nothing was written)."""
    try:
        replanned = apply_import(plan=plan)
    except StalePlan:
        return None
    except IntegrityError as error:
        plan.problems = [
            Problem(
                None,
                None,
                "The database refused the import, so nothing was imported "
                f"({type(error).__name__}). Another change may have happened at the "
                "same time: try again.",
            )
        ]
        return ImportResult(plan, written=False)
    return ImportResult(plan, written=True, replanned_listing_ids=replanned)


# ---------------------------------------------------------------------------------------
# A plan kept between the preview and its confirmation
# ---------------------------------------------------------------------------------------

# Bump when what a kept plan means changes: a plan kept by another version is not used.
PLAN_VERSION = 2
# Times travel as text in the kept plan's JSON.
TIME_FIELDS = tuple(
    name for name in LISTING_FIELDS if isinstance(Listing._meta.get_field(name), models.TimeField)
)


def _plan_signer() -> signing.Signer:
    return signing.Signer(salt="locks.listing_import.kept-plan")  # the secret key of now


def _file_digest(data: bytes, file_format: str) -> str:
    return hashlib.sha256(file_format.encode() + b"\0" + data).hexdigest()


def dump_plan(plan: ImportPlan, *, data: bytes, file_format: str) -> str:
    """A checked plan as signed text, kept beside its upload for the confirm.

    The confirm then writes it without reading and checking the file again (half of its
    time), once it has made sure that the organization still has what the plan read
    (`Existing.fingerprint`, inside the write transaction). Signed: whoever can write to
    the uploads' folder or cache could otherwise hand the confirm a plan no check made.
    """
    if not plan.ok or plan.existing is None:
        raise ValueError("only a checked plan is kept")
    with collector_paused():
        payload = _plan_payload(plan, data, file_format)
        return _plan_signer().sign(json.dumps(payload, separators=(",", ":")))


def _plan_payload(plan: ImportPlan, data: bytes, file_format: str) -> dict:
    rows = [
        [
            row.row,
            row.external_id,
            row.action,
            row.listing_id,
            row.property_name,
            row.new_property,
            {
                name: value.isoformat() if isinstance(value, datetime.time) else value
                for name, value in row.values.items()
            },
            None
            if row.lock_plan is None
            else [row.lock_plan.delete, row.lock_plan.update, row.lock_plan.create],
            row.extra,
        ]
        for row in plan.rows
    ]
    return {
        "version": PLAN_VERSION,
        "organization": plan.organization.pk,
        "file": _file_digest(data, file_format),
        "fingerprint": plan.existing.fingerprint(),
        "lookups": plan.lookups,
        "new_properties": plan.new_properties,
        "columns": plan.columns,
        "rows": rows,
    }


def load_plan(
    text: str, *, organization: Organization, data: bytes, file_format: str
) -> ImportPlan | None:
    """The plan `dump_plan` kept for this file and organization, or None (not signed by
    Keystay, made by another version, for another file or organization)."""
    try:
        payload = json.loads(_plan_signer().unsign(text))
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if (
        payload.get("version") != PLAN_VERSION
        or payload.get("organization") != organization.pk
        or payload.get("file") != _file_digest(data, file_format)
    ):
        return None
    rows = []
    for (
        number,
        external_id,
        action,
        listing_id,
        prop,
        new_prop,
        values,
        locks,
        extra,
    ) in payload["rows"]:
        for name in TIME_FIELDS:
            if values.get(name) is not None:
                values[name] = datetime.time.fromisoformat(values[name])
        rows.append(
            RowPlan(
                row=number,
                external_id=external_id,
                action=action,
                property_name=prop,
                new_property=new_prop,
                listing_id=listing_id,
                values=values,
                lock_plan=None
                if locks is None
                else LockPlan(
                    delete=locks[0],
                    update=[tuple(a) for a in locks[1]],
                    create=[tuple(a) for a in locks[2]],
                ),
                extra=extra,
            )
        )
    return ImportPlan(
        organization=organization,
        rows=rows,
        problems=[],
        new_properties=payload["new_properties"],
        columns=payload["columns"],
        lookups=payload["lookups"],
        fingerprint=payload["fingerprint"],
    )


# ---------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------

EXPORT_VALUES = {
    "property": "property__name",
    "time_zone": "property__time_zone",
    "name": "name",
    "external_id": "external_id",
    "check_in_time": "check_in_time",
    "check_out_time": "check_out_time",
    "code_lead_time_minutes": "code_lead_time_minutes",
    "code_length": "code_length",
    "active": "active",
}


def export_rows(*, listings: QuerySet[Listing], native: bool = False) -> list[list]:
    """The listings as rows of `all_columns()`, read as tuples in two queries. Lock cells come from
    the same `lock_cell` the import compares with, so a re-import changes nothing."""
    listing_ids = listings.order_by().values("pk")
    locks: dict[int, list[tuple[str, bool, str]]] = {}
    assignments = LockAssignment.objects.filter(listing__in=listing_ids).values_list(
        "listing_id", "role", "guest_access", "device__name"
    )
    for listing_id, role, guest, name in assignments.iterator(chunk_size=QUERY_CHUNK):
        locks.setdefault(listing_id, []).append((role, guest, name))
    extras = [column.export(listing_ids) for column in EXTRA_COLUMNS.values()]
    rows = []
    ordered = (
        Listing.objects.filter(pk__in=listing_ids)
        .order_by("property__name", "name", "pk")
        .values_list("pk", *EXPORT_VALUES.values())
    )
    for pk, *values in ordered.iterator(chunk_size=QUERY_CHUNK):
        # Numbers stay numbers (XLSX and JSON keep their type); every text cell follows
        # the one rule for formula-like text, `escape_formula`.
        cells = [
            (value if native else show(value))
            if type(value) is int
            else escape_formula(show(value))
            for value in values
        ]
        assigned = locks.get(pk, [])
        cells.extend(escape_formula(lock_cell(column, assigned)) for column in LOCK_COLUMNS)
        cells.extend(escape_formula(extra.get(pk, "")) for extra in extras)
        rows.append(cells)
    return rows


def export_listings(*, listings: QuerySet[Listing], file_format: str) -> bytes:
    """A file in the import's shape: exported, then imported unchanged, it changes nothing."""
    rows = export_rows(listings=listings, native=file_format in ("xlsx", "json"))
    if file_format in ("csv", "tsv"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="," if file_format == "csv" else "\t")
        writer.writerow(all_columns())
        writer.writerows(rows)
        # UTF-8 with a BOM, so that Excel reads accents right.
        return ("\ufeff" + buffer.getvalue()).encode()
    if file_format == "json":
        columns = all_columns()
        return json.dumps([dict(zip(columns, row, strict=True)) for row in rows]).encode()
    if file_format == "xlsx":
        import openpyxl
        from openpyxl.cell import WriteOnlyCell

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("Listings")
        sheet.append(all_columns())

        def text_cell(value: str) -> WriteOnlyCell:
            # openpyxl turns any text that starts with "=" into a formula; text is text.
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            return cell

        for row in rows:
            sheet.append([text_cell(v) if type(v) is str else v for v in row])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()
    raise ValueError(f"Unknown file format “{file_format}”.")
