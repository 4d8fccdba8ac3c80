"""The Listing admin's import (upload → preview → confirm) and export screens.

Thin views over `locks.listing_import`: the service parses, checks, plans and writes; the
views pick the organization, keep the upload between preview and confirmation
(`locks.import_uploads`) and show the result.
"""

from __future__ import annotations

from html import escape

from django import forms
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeString, mark_safe

from core import access
from core.text import counted
from properties.models import Organization

from . import import_uploads
from .listing_import import (
    FORMATS,
    LOCK_COLUMNS,
    NEW,
    SKIP,
    UPDATE,
    ImportPlan,
    column_rank,
    dump_plan,
    export_listings,
    format_for_name,
    import_listings,
    size_problem,
)

ACTION_LABELS = {NEW: "New", UPDATE: "Update", SKIP: "Skip (unchanged)"}
FORMAT_CHOICES = [(key, fmt.title) for key, fmt in FORMATS.items()]


class ListingImportForm(forms.Form):
    """Upload step. Someone managing several organizations picks the one to import into;
    choices are only the organizations they manage, so a crafted POST cannot pick another."""

    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(),
        required=False,
        label="Import into",
        help_text="Listings, and the properties the file creates, land in this organization.",
    )
    import_file = forms.FileField(label="File to import")
    format = forms.ChoiceField(
        choices=[("", "From the file name")] + FORMAT_CHOICES, required=False
    )

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["organization"]
        field.queryset = organizations
        first_two = list(organizations[:2])
        self.only_organization = first_two[0] if len(first_two) == 1 else None
        if self.only_organization is not None:
            field.widget = forms.HiddenInput()
            field.initial = self.only_organization.pk

    def clean_organization(self):
        organization = self.cleaned_data.get("organization") or self.only_organization
        if organization is None:
            raise forms.ValidationError("Choose the organization to import the listings into.")
        return organization

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        too_large = size_problem(upload.size)
        if too_large:
            raise forms.ValidationError(too_large)
        return upload

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("import_file")
        if upload is not None and not cleaned.get("format"):
            guessed = format_for_name(upload.name)
            if guessed is None:
                self.add_error("format", "Choose the file's format.")
            cleaned["format"] = guessed
        return cleaned


class ListingExportForm(forms.Form):
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="csv")


# The preview shows which listing a row is, then its locks (what an import most often
# changes), then the rest: the lock columns stay in view on a laptop's screen.
PREVIEW_FIRST = ("property", "name", "external_id", *LOCK_COLUMNS)


def _preview_rank(cell: tuple[str, str, str | None]) -> int:
    column = cell[0]
    if column in PREVIEW_FIRST:
        return PREVIEW_FIRST.index(column)
    return len(PREVIEW_FIRST) + column_rank(column)


def preview_table(plan: ImportPlan) -> SafeString:
    """One table row per file row: what it creates, updates (old → new) or skips.

    Built as a string: a template loop over 10,000 rows of a dozen cells takes seconds.
    """
    if not plan.rows:
        return mark_safe("<p>The file has no rows to import.</p>")
    columns = [column for column, _new, _old in sorted(plan.rows[0].cells, key=_preview_rank)]
    parts = [
        '<table id="listing-import-preview" class="import-preview"><thead><tr>',
        "<th>Row</th><th>Action</th>",
        *(f"<th>{escape(column)}</th>" for column in columns),
        "</tr></thead><tbody>",
    ]
    for row in plan.rows:
        parts.append(
            f'<tr class="{row.action}"><td class="row-number">{row.row}</td>'
            f'<td class="import-type">{ACTION_LABELS[row.action]}</td>'
        )
        for column, new, old in sorted(row.cells, key=_preview_rank):
            text = escape(new) if new else "—"
            if old is not None:
                parts.append(
                    f'<td class="changed"><del>{escape(old) if old else "—"}</del> '
                    f"→ <ins>{text}</ins></td>"
                )
            elif column == "property" and row.new_property:
                parts.append(f'<td>{text} <em class="new-property">(new property)</em></td>')
            else:
                parts.append(f"<td>{text}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return mark_safe("".join(parts))


def preview_summary(plan: ImportPlan) -> str:
    totals = plan.totals()
    new_properties = sorted({row.property_name for row in plan.rows if row.new_property})
    summary = (
        f"{counted(len(plan.rows), 'row')}: {totals[NEW]} new, {totals[UPDATE]} to update, "
        f"{totals[SKIP]} unchanged (skipped)."
    )
    if new_properties:
        summary += f" New properties: {', '.join(new_properties)}."
    return summary


class ListingImportExportMixin:
    """Import and export screens for the Listing admin (URLs as django-import-export had
    them: import/, process_import/, export/)."""

    import_template_name = "admin/properties/listing/import.html"
    export_template_name = "admin/properties/listing/export.html"
    change_list_template = "admin/properties/listing/change_list.html"

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_view), name="{}_{}_import".format(*info)),
            path(
                "process_import/",
                wrap(self.process_import_view),
                name="{}_{}_process_import".format(*info),
            ),
            path("export/", wrap(self.export_view), name="{}_{}_export".format(*info)),
            *super().get_urls(),
        ]

    # Members hold roles, not Django model permissions: managers import, members export.
    def has_import_permission(self, request) -> bool:
        return access.can_manage(request.user)

    def has_export_permission(self, request) -> bool:
        return access.can_view(request.user)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
            "has_export_permission": self.has_export_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def _import_organizations(self, request):
        organizations = Organization.objects.order_by("name")
        if request.user.is_superuser:
            return organizations
        return organizations.filter(pk__in=access.managed_organization_ids(request.user))

    def _render(self, request, template: str, context: dict) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "app_label": self.opts.app_label,
                # The admin's <title> is "{title} | Keystay": never " | Keystay" alone.
                "title": (
                    "Import listings"
                    if template == self.import_template_name
                    else "Export listings"
                ),
                **context,
            },
        )

    def import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        organizations = self._import_organizations(request)
        if request.method != "POST":
            form = ListingImportForm(organizations=organizations)
            return self._render(request, self.import_template_name, {"form": form})
        form = ListingImportForm(request.POST, request.FILES, organizations=organizations)
        if not form.is_valid():
            return self._render(request, self.import_template_name, {"form": form})
        organization = form.cleaned_data["organization"]
        upload = form.cleaned_data["import_file"]
        data = upload.read()
        file_format = form.cleaned_data["format"]
        result = import_listings(
            organization=organization, data=data, file_format=file_format, dry_run=True
        )
        context = {
            "form": form,
            "plan": result.plan,
            "problems": result.problems,
            "import_organization": organization,
        }
        if result.ok:
            context["upload_key"] = import_uploads.store(
                request,
                organization_id=organization.pk,
                file_name=upload.name,
                file_format=file_format,
                data=data,
                plan=dump_plan(result.plan, data=data, file_format=file_format),
            )
            context["import_preview"] = preview_table(result.plan)
            context["import_summary"] = preview_summary(result.plan)
        return self._render(request, self.import_template_name, context)

    def process_import_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        import_url = reverse("admin:properties_listing_import")
        if request.method != "POST":
            return HttpResponseRedirect(import_url)
        pending = import_uploads.take(request, request.POST.get("key", ""))
        organization = (
            self._import_organizations(request).filter(pk=pending.organization_id).first()
            if pending is not None
            else None
        )
        if organization is None:
            messages.error(
                request,
                "This import is not waiting for your confirmation (it was confirmed already, "
                "it expired, or it is not yours): upload the file again.",
            )
            return HttpResponseRedirect(import_url)
        result = import_listings(
            organization=organization,
            data=pending.data,
            file_format=pending.file_format,
            kept_plan=pending.plan,  # written as previewed, if nothing changed since
        )
        if not result.written:
            # Something changed between preview and confirm: nothing was written.
            problems = result.problems
            shown = "; ".join(str(problem) for problem in problems[:5])
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            messages.error(request, f"Nothing was imported: {shown}{more}.")
            return HttpResponseRedirect(import_url)
        # One history entry per import, on the organization: one per listing would be
        # ten thousand log rows.
        LogEntry.objects.log_actions(
            request.user.pk,
            [organization],
            CHANGE,
            change_message=(
                f"Imported listings from {pending.file_name}: {result.plan.summary()}."
            ),
            single_object=True,
        )
        messages.success(request, f"Import finished: {result.plan.summary()} listings.")
        return HttpResponseRedirect(reverse("admin:properties_listing_changelist"))

    def export_view(self, request):
        if not self.has_export_permission(request):
            raise PermissionDenied
        form = ListingExportForm(request.POST or None)
        if request.method != "POST" or not form.is_valid():
            return self._render(request, self.export_template_name, {"form": form})
        fmt = FORMATS[form.cleaned_data["format"]]
        try:
            # The changelist's filters and search ride along in the query string.
            listings = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(request.path)
        content = export_listings(listings=listings, file_format=fmt.key)
        response = HttpResponse(content, content_type=fmt.content_type)
        response["Content-Disposition"] = f'attachment; filename="listings.{fmt.extension}"'
        return response
