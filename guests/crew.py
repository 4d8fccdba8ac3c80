"""The crew's side of a turnover: the email that tells the assignee their doors, code and
window, and the private task page (no sign-in: the signed link is the key, see
reservations.turnovers.task_token) with its "Done — unit ready" button.

Unlike the guest page, the task page posts a form to itself: its policy allows
`form-action 'self'` and sends a same-origin Referer, so Django's CSRF check passes in
a real browser.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from core.client_address import client_ip
from core.public_url import absolute_url
from core.ratelimit import Rate, hit
from reservations.models import LockAccess, Turnover
from reservations.turnovers import (
    task_token,
    turnover_done,
    turnover_for_token,
    turnover_notified,
    turnover_notify_failed,
    turnovers_to_notify,
)

from .content import local_text

logger = logging.getLogger(__name__)

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


def compose_task(turnover: Turnover) -> tuple[str, str]:
    """(subject, body) of the assignee's email."""
    listing = turnover.listing
    zone = listing.property.zone
    doors = crew_doors(turnover)
    starts, ends = turnover.window
    lines = "\n".join(f"- {door.name}: {door.code or '(being set)'}" for door in doors)
    subject = f"Turnover at {listing.name}: {local_text(turnover.starts_at, zone)}"
    body = (
        f"Hello {turnover.assignee.name},\n\n"
        f"A turnover at {listing.name} ({listing.property.name}).\n"
        f"Your code works from {local_text(starts, zone)} until {local_text(ends, zone)}.\n\n"
        f"Doors:\n{lines}\n\n"
        f"When the unit is ready, press “Done — unit ready” on your task page:\n"
        f"{task_url(turnover)}\n"
    )
    return subject, body


def crew_task_notify(*, turnover_id: int, now=None) -> bool:
    """Email the assignee their doors, code and window (again after a change); recorded
    on the turnover (`notified_at`). False when there is nobody or nothing to tell."""
    now = now or timezone.now()
    turnover = (
        Turnover.objects.select_related("listing__property", "assignee")
        .filter(pk=turnover_id)
        .first()
    )
    if turnover is None or not turnover.is_live or turnover.assignee is None:
        return False
    if not turnover.assignee.email or turnover.window[1] <= now:
        return False
    problem = ""
    if not turnover.code:
        problem = "No code yet: the turnover has no code to send."
    elif not crew_doors(turnover):
        problem = "No door of the listing has staff access: nothing to send yet."
    if problem:
        turnover_notify_failed(turnover_id=turnover_id, error=problem, at=now)
        return False
    subject, body = compose_task(turnover)
    connection = get_connection(timeout=getattr(settings, "EMAIL_TIMEOUT", None) or 30)
    try:
        EmailMessage(
            subject=subject, body=body, to=[turnover.assignee.email], connection=connection
        ).send()
    except Exception as error:  # a mail server down: shown on the turnover, tried again
        logger.warning("Turnover %s: assignee not emailed (%s)", turnover_id, error)
        turnover_notify_failed(turnover_id=turnover_id, error=f"Email not sent: {error}", at=now)
        return False
    turnover_notified(turnover_id=turnover_id, at=now)
    return True


def crew_tasks_notify_due(*, now=None) -> int:
    """The periodic sweep's part for crews: every assignee not told yet (an email that
    failed, or one whose turnover had nothing to send) is tried again, backing off.
    Returns how many were emailed."""
    now = now or timezone.now()
    return sum(crew_task_notify(turnover_id=pk, now=now) for pk in turnovers_to_notify(now=now))


def _headers(response: HttpResponse) -> HttpResponse:
    for header, value in TASK_HEADERS.items():
        response[header] = value
    return response


@require_http_methods(["GET", "POST"])
def crew_task_page(request, token: str):
    """The turnover's doors, code and window; POST marks the unit ready (twice does
    nothing more)."""
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
    zone = turnover.listing.property.zone
    starts, ends = turnover.window
    context = {
        "turnover": turnover,
        "doors": crew_doors(turnover) if turnover.is_live else [],
        "starts": local_text(starts, zone),
        "ends": local_text(ends, zone),
        "done_at": local_text(turnover.done_at, zone) if turnover.done_at else "",
        # Before the guests leave, "Done" is refused: the page says from when instead.
        "not_begun": local_text(turnover.starts_at, zone)
        if timezone.now() < turnover.starts_at
        else "",
    }
    return _headers(render(request, "guests/task_page.html", context))
