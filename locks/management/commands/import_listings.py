from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.text import counted
from locks.listing_import import FORMATS, format_for_name, import_listings, size_problem
from properties.models import Organization


class Command(BaseCommand):
    help = (
        "Import listings (and their locks) from a CSV, TSV, XLSX or JSON file into one "
        "organization: every row or none. Prints what each row does, or its problems."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The file, in the shape of the admin's export.")
        parser.add_argument("--organization", required=True, help="The organization's name.")
        parser.add_argument("--format", choices=sorted(FORMATS), help="Default: by extension.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and show the rows; write nothing."
        )

    def handle(self, *args, file, organization, format=None, dry_run=False, **options):
        try:
            org = Organization.objects.get(name=organization)
        except Organization.DoesNotExist as error:
            raise CommandError(f"No organization named {organization!r}.") from error
        path = Path(file)
        file_format = format or format_for_name(path.name)
        if file_format is None:
            raise CommandError("Give the file's format with --format (csv, tsv, xlsx, json).")
        try:
            too_large = size_problem(path.stat().st_size)
            if too_large:
                raise CommandError(f"{file}: {too_large}")
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}.") from error

        result = import_listings(
            organization=org, data=data, file_format=file_format, dry_run=dry_run
        )

        if result.problems:
            for problem in result.problems:
                self.stderr.write(self.style.ERROR(str(problem)))
            raise CommandError(
                f"{counted(len(result.problems), 'problem')}: nothing was imported into {org}."
            )
        for row in result.plan.rows:
            changes = ", ".join(
                f"{column}: {old or '—'} → {new or '—'}"
                for column, new, old in row.cells
                if old is not None
            )
            line = f"Row {row.row} {row.external_id}: {row.action}"
            self.stdout.write(f"{line} ({changes})" if changes else line)
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} into {org}: {result.plan.summary()} listings.")
        )
