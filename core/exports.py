"""Records to take away: what every django-import-export resource and admin of Keystay shares.

The library does the work (resources, the admin's export page and action, its formats and
the import preview); Keystay adds three rules through its public hooks:
- every cell goes through `core.spreadsheet_cells.escape_formula` (`export_field`), and an
  imported cell through its inverse (`before_import_row`), so that a guest named
  `=HYPERLINK(...)` is text in CSV and XLSX alike and re-imports to the same name;
- instants are written in the property's own time, with its zone in a column of its own
  (`local_time`), like every page shows them;
- the records are the admin list's: the export link carries the list's filters and search,
  and the rows come from the admin's scoped queryset, so a file holds what the list shows.
Who may export or import is the library's permission check (IMPORT_EXPORT_*_PERMISSION_CODE
in settings), answered from roles by `core.permissions.RolePermissionBackend`.
"""

from __future__ import annotations

import datetime
import zoneinfo

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from import_export import resources
from import_export.admin import ExportActionMixin, ImportExportMixin
from import_export.formats.base_formats import CSV, XLSX
from import_export.widgets import ForeignKeyWidget

from .spreadsheet_cells import escape_formula, unescape_formula

# What a spreadsheet reads: CSV for anything, XLSX for Excel and LibreOffice.
FORMATS = [CSV, XLSX]

# How an instant is written in a file: sortable, in the property's wall-clock time.
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M"


def local_time(value: datetime.datetime | None, zone: zoneinfo.ZoneInfo | None) -> str:
    """An instant as a file holds it: the wall-clock time in `zone` (the project's zone
    where no property applies); empty for none. The zone goes in its own column."""
    if value is None:
        return ""
    return timezone.localtime(value, zone).strftime(LOCAL_TIME_FORMAT)


class FormulaSafeResource(resources.ModelResource):
    """A resource whose every exported cell is formula-safe and whose imported cells lose
    the apostrophe that made them so. `user` (passed by the admin) scopes what it reads."""

    def __init__(self, *, user=None, **kwargs):
        super().__init__(**kwargs)
        self.user = user

    def export_field(self, field, instance, **kwargs):
        return escape_formula(super().export_field(field, instance, **kwargs))

    def get_export_headers(self, selected_fields=None):
        return [escape_formula(h) for h in super().get_export_headers(selected_fields)]

    def before_import_row(self, row, **kwargs):
        for key in list(row.keys()):
            row[key] = unescape_formula(row[key])


class ScopedForeignKeyWidget(ForeignKeyWidget):
    """A foreign key looked up by a column (a name) among the rows `queryset` allows: an
    import cannot attach a row to another organization's object by naming it."""

    def __init__(self, model, field, *, queryset, **kwargs):
        super().__init__(model, field, **kwargs)
        self.scoped_queryset = queryset

    def get_queryset(self, value, row, *args, **kwargs):
        return self.scoped_queryset

    def clean(self, value, row=None, **kwargs):
        try:
            return super().clean(value, row, **kwargs)
        except ObjectDoesNotExist:
            # The same words whether the row exists elsewhere or nowhere.
            name = self.model._meta.verbose_name
            raise ValueError(f"No {name} “{value}” among the ones you manage.") from None


class _PassUserMixin:
    formats = FORMATS
    export_formats = FORMATS

    def get_resource_kwargs(self, request, *args, **kwargs):
        return {"user": request.user}

    def get_export_filename(self, request, queryset, file_format):
        day = timezone.localdate().isoformat()
        name = self.model._meta.verbose_name_plural.replace(" ", "-")
        return f"{name}-{day}.{file_format.get_extension()}"


class _BadFiltersMixin:
    def export_action(self, request):
        # The list answers a filter it cannot apply (a malformed date in the URL) with a
        # redirect to the bare list and ?e=1; the export page, built on the same list,
        # raised it as a server error.
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            opts = self.model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            return HttpResponseRedirect(f"{url}?{ERROR_FLAG}=1")


class RecordsExportMixin(_PassUserMixin, _BadFiltersMixin, ExportActionMixin):
    """An admin list that exports what it shows (button on the list, action on a
    selection), as CSV or XLSX, with the resources of `resource_classes`."""

    # A record's own page keeps its buttons; exporting one row is what the action is for.
    show_change_form_export = False


class RecordsImportExportMixin(_PassUserMixin, _BadFiltersMixin, ImportExportMixin):
    """An admin list that also imports, with the library's preview before anything is
    written."""

    import_formats = FORMATS
