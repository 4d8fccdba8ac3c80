"""The ready-made message templates an organization starts with.

One set per language Keystay speaks (settings.LANGUAGES), worded by Keystay's own
translations (guests.content.default_wording): the door codes and arrival details 48 hours
before check-in, a note when times or codes change after that, and "ready early" when a
cleaner marks the unit ready before check-in (listings with turnovers and early check-in).
A language added later brings its set with its translation file.

A new organization gets the set switched on, so its first guest is told without a manager
writing anything. Organizations that existed before got it switched off (a data
migration), and the dashboard says so: nobody's guests are emailed by surprise.
"""

from __future__ import annotations

from django.utils import translation

from core.languages import language_codes

from .content import default_wording
from .models import MessageTemplate

Kind = MessageTemplate.Kind

# Hours before check-in of the ready-made door-code email.
SEND_HOURS_BEFORE = 48


def ready_made(language: str) -> list[dict]:
    """The set's templates in `language`, as field values."""
    with translation.override(language):
        templates = []
        for kind, hours in (
            (Kind.CODE, SEND_HOURS_BEFORE),
            (Kind.CHANGED, None),
            (Kind.READY_EARLY, None),
        ):
            subject, body = default_wording(kind)
            templates.append(
                {
                    "kind": kind,
                    "language": language,
                    "subject": subject,
                    "body": body,
                    "send_hours_before": hours,
                }
            )
        return templates


def missing_ready_made(organization_id: int, model=MessageTemplate) -> list[dict]:
    """The set's templates the organization has no template of its own for (a template of
    the same kind and language, for every listing): those are left as the manager wrote
    them. `model`: the historical model, in a migration."""
    taken = set(
        model.objects.filter(organization_id=organization_id, listing__isnull=True).values_list(
            "kind", "language"
        )
    )
    return [
        fields
        for language in language_codes()
        for fields in ready_made(language)
        if (fields["kind"], language) not in taken
    ]
