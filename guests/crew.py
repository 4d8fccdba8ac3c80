"""The crew's side of a turnover: what the email that tells the assignee their doors, code
and window says (sent as a guest message of the turnover: guests.crew_messages), and the
private task page (no sign-in: the signed link is the key, see
reservations.turnovers.task_token) with its "Done — unit ready" button.

Unlike the guest page, the task page posts a form to itself: its policy allows
`form-action 'self'` and sends a same-origin Referer, so Django's CSRF check passes in
a real browser.
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.client_address import client_ip
from core.languages import default_language, language_codes
from core.public_url import absolute_url
from core.ratelimit import Rate, hit
from reservations.models import LockAccess, Turnover
from reservations.turnovers import staff_locks, task_token, turnover_done, turnover_for_token

from .content import Composed, Facts, changes_text, local_text

TASK_HEADERS = {
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store, private",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class CrewDoor:
    name: str
    code: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime


def door_name(access: LockAccess) -> str:
    """What the crew reads for a door: its label, else the device's name."""
    if access.assignment_id is not None:
        return access.assignment.door_label
    return access.device.name


def crew_doors(turnover: Turnover) -> list[CrewDoor]:
    accesses = (
        turnover.lock_accesses.filter(wanted=True)
        .exclude(state__in=LockAccess.FINAL_STATES)
        .select_related("device", "assignment")
        .order_by("pk")
    )
    return [CrewDoor(door_name(a), a.door_code, a.starts_at, a.ends_at) for a in accesses]


def task_url(turnover: Turnover, request=None) -> str:
    return absolute_url(reverse("crew_task_page", args=[task_token(turnover)]), request=request)


def crew_language(turnover: Turnover) -> str:
    """The language the assignee reads (their page and email): their own, else their
    organization's default, else the site's."""
    codes = language_codes()
    assignee = turnover.assignee
    for language in (
        assignee.language if assignee is not None else "",
        turnover.organization.default_language,
    ):
        if language and language in codes:
            return language
    return default_language()


def crew_facts(turnover: Turnover, doors: list[CrewDoor] | None = None) -> Facts:
    """What the assignee is told: the code's window and each door with its code (by
    name). Kept on each delivery, so that a later change is told once."""
    doors = crew_doors(turnover) if doors is None else doors
    starts, ends = turnover.window
    return Facts(
        check_in=starts.astimezone(datetime.UTC),
        check_out=ends.astimezone(datetime.UTC),
        doors=tuple(sorted((door.name, door.code) for door in doors)),
    )


def crew_problem(turnover: Turnover, doors: list[CrewDoor] | None = None) -> str:
    """Why there is nothing to send the assignee yet, or ""."""
    if not turnover.code:
        return "No code yet: the turnover has no code to send."
    if not (crew_doors(turnover) if doors is None else doors):
        return "No door of the listing has staff access: nothing to send yet."
    return ""


def _crew_changes(told: Facts, now: Facts, zone) -> str:
    lines = []
    if (told.check_in, told.check_out) != (now.check_in, now.check_out):
        lines.append(
            _("- Your code now works from %(starts)s until %(ends)s.")
            % {"starts": local_text(now.check_in, zone), "ends": local_text(now.check_out, zone)}
        )
    # The doors' lines are the guests' ("- Front gate has a new code: 4711.").
    same_times = Facts(check_in=now.check_in, check_out=now.check_out, doors=told.doors)
    doors = changes_text(same_times, now, zone)
    return "\n".join(filter(None, ["\n".join(lines), doors]))


def compose_task(turnover: Turnover, *, told: Facts | None = None, request=None) -> Composed:
    """The assignee's email, in their language: the first notice, or (`told`: what they
    were told last) a note of what changed since."""
    listing = turnover.listing
    zone = listing.property.zone
    with translation.override(crew_language(turnover)):
        doors = crew_doors(turnover)
        facts = crew_facts(turnover, doors)
        starts, ends = turnover.window
        being_set = _("(being set)")
        lines = "\n".join(f"- {door.name}: {door.code or being_set}" for door in doors)
        values = {
            "name": turnover.assignee.name if turnover.assignee_id else "",
            "listing": listing.name,
            "property": listing.property.name,
            "when": local_text(turnover.starts_at, zone),
            "starts": local_text(starts, zone),
            "ends": local_text(ends, zone),
        }
        parts = [_("Hello %(name)s,") % values, ""]
        if told is not None and told != facts:
            subject = _("Your turnover at %(listing)s has changed") % values
            parts += [
                _("Something about your turnover at %(listing)s changed:") % values,
                _crew_changes(told, facts, zone),
                "",
            ]
        else:
            subject = _("Turnover at %(listing)s: %(when)s") % values
            parts += [_("A turnover at %(listing)s (%(property)s).") % values]
        parts += [
            _("Your code works from %(starts)s until %(ends)s.") % values,
            "",
            _("Doors:"),
            lines,
            "",
            _("When the unit is ready, press “%(button)s” on your task page:")
            % {"button": _("Done — unit ready")},
            task_url(turnover, request),
        ]
    return Composed(subject=subject, body="\n".join(parts) + "\n", facts=facts, template=None)


def _headers(response: HttpResponse) -> HttpResponse:
    for header, value in TASK_HEADERS.items():
        response[header] = value
    return response


@require_http_methods(["GET", "POST"])
def crew_task_page(request, token: str):
    """The turnover's doors, code and window, in the assignee's language; POST marks the
    unit ready (twice does nothing more)."""
    rate = Rate.parse(settings.GUEST_PAGE_RATE)
    if hit("crew-page-ip", client_ip(request), rate) is not None:
        return _headers(HttpResponse("Too many requests.", status=429))
    turnover = turnover_for_token(token)
    if turnover is None:
        raise Http404("No such task.")
    if request.method == "POST":
        who = turnover.assignee.name if turnover.assignee_id else "Crew (task page)"
        with contextlib.suppress(ValidationError):  # not begun: the page says from when
            turnover_done(turnover=turnover, by=who)
        return _headers(redirect(request.path))
    language = crew_language(turnover)
    # Only this response is translated: the staff's pages keep the site's language.
    with translation.override(language):
        zone = turnover.listing.property.zone
        starts, ends = turnover.window
        doors = crew_doors(turnover) if turnover.is_live else []
        context = {
            "turnover": turnover,
            "language": language,
            "doors": doors,
            # No door of the listing takes crew codes: no code is coming, whatever the wait.
            "no_staff_doors": not doors and not staff_locks(turnover.listing),
            "starts": local_text(starts, zone),
            "ends": local_text(ends, zone),
            "done_at": local_text(turnover.done_at, zone) if turnover.done_at else "",
            # Before the guests leave, "Done" is refused: the page says from when instead.
            "not_begun": local_text(turnover.starts_at, zone)
            if timezone.now() < turnover.starts_at
            else "",
        }
        response = render(request, "guests/task_page.html", context)
    response["Content-Language"] = language
    return _headers(response)
