"""The admin's listing import: its two forms and the preview of what each row does."""

from html import escape

from django import forms
from django.utils.safestring import SafeString, mark_safe
from import_export.forms import ConfirmImportForm, ImportForm
from import_export.results import RowResult

from .models import Organization

ACTION_LABELS = {
    RowResult.IMPORT_TYPE_NEW: "New",
    RowResult.IMPORT_TYPE_UPDATE: "Update",
    RowResult.IMPORT_TYPE_SKIP: "Skip (unchanged)",
}


class ListingImportForm(ImportForm):
    """Upload step. Someone managing several organizations picks the one to import into;
    choices are only the organizations they manage, so a crafted POST cannot pick another."""

    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(),
        required=False,
        label="Import into",
        help_text="Listings, and the properties the file creates, land in this organization.",
    )
    field_order = ["organization", "resource", "import_file", "format"]

    def __init__(self, formats, resources, *, organizations, **kwargs):
        super().__init__(formats, resources, **kwargs)
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


class ListingConfirmImportForm(ConfirmImportForm):
    """Confirm step: the organization travels with the stored file and is checked again."""

    organization = forms.ModelChoiceField(
        queryset=Organization.objects.none(), widget=forms.HiddenInput()
    )

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations


def preview_table(result) -> SafeString:
    """One table row per file row: what it creates, updates (old → new) or skips.

    Built as a string: a template loop over 10,000 rows of a dozen cells takes seconds.
    """
    outcomes = [(row.import_type, row.keystay) for row in result.rows if hasattr(row, "keystay")]
    if not outcomes:
        return mark_safe("<p>The file has no rows to import.</p>")
    columns = [column for column, _new, _old in outcomes[0][1].cells]
    parts = [
        '<table id="listing-import-preview" class="import-preview"><thead><tr>',
        "<th>Row</th><th>Action</th>",
        *(f"<th>{escape(column)}</th>" for column in columns),
        "</tr></thead><tbody>",
    ]
    for import_type, outcome in outcomes:
        parts.append(
            f'<tr class="{import_type}"><td>{outcome.row}</td>'
            f'<td class="import-type">{ACTION_LABELS.get(import_type, import_type)}</td>'
        )
        for column, new, old in outcome.cells:
            text = escape(new) if new else "—"
            if old is not None:
                parts.append(
                    f'<td class="changed"><del>{escape(old) if old else "—"}</del> '
                    f"→ <ins>{text}</ins></td>"
                )
            elif column == "property" and outcome.new_property:
                parts.append(f'<td>{text} <em class="new-property">(new property)</em></td>')
            else:
                parts.append(f"<td>{text}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return mark_safe("".join(parts))


def preview_summary(result) -> str:
    totals = result.totals
    new_properties = sorted(
        {
            row.keystay.property_name
            for row in result.rows
            if hasattr(row, "keystay") and row.keystay.new_property
        }
    )
    summary = (
        f"{result.total_rows} rows: {totals[RowResult.IMPORT_TYPE_NEW]} new, "
        f"{totals[RowResult.IMPORT_TYPE_UPDATE]} to update, "
        f"{totals[RowResult.IMPORT_TYPE_SKIP]} unchanged (skipped)."
    )
    if new_properties:
        summary += f" New properties: {', '.join(new_properties)}."
    return summary
