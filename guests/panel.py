"""The "Guest messages" section of the reservation page (see reservations.panels): what the
guest was told and when, what is planned, what failed, and the buttons to send now."""

from __future__ import annotations

from collections.abc import Callable

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core import access
from core.text import counted
from reservations.doors import send_problem, stay_code
from reservations.models import Reservation, Turnover
from reservations.panels import ACTIONS_FORM

from .models import GuestLink, GuestMessage
from .services import schedule_hours

State = GuestMessage.State
Channel = GuestMessage.Channel
Trigger = GuestMessage.Trigger

# The latest deliveries shown; the admin list of guest messages has them all.
SHOWN = 10

# How an app above shows the record behind a delivery of its channel (hooks: a webhook
# delivery's admin page), registered in its AppConfig.ready(): guests never import it.
_record_links: dict[str, Callable[[GuestMessage], str]] = {}


def register_record_link(channel: str, link: Callable[[GuestMessage], str]) -> None:
    _record_links[channel] = link


def record_link(message: GuestMessage) -> str:
    link = _record_links.get(message.channel)
    return link(message) if link is not None and message.reference else ""


def _local(value, zone) -> str:
    if value is None:
        return "—"
    return timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M %Z")


def _who(message: GuestMessage) -> str:
    if message.sent_by_id is None:
        return "Keystay"
    return message.sent_by.get_username() if message.sent_by else "a former member"


def how_sent(message: GuestMessage) -> str:
    """'emailed to maria@example.com (scheduled)', 'text copied by alice'..."""
    if message.channel == Channel.COPY_TEXT:
        return f"text copied by {_who(message)}"
    if message.channel == Channel.COPY_LINK:
        return f"guest link copied by {_who(message)}"
    if message.channel == Channel.WEBHOOK:
        return f"sent by webhook to {message.recipient} ({message.note})"
    how = {
        Trigger.SCHEDULE: "scheduled",
        Trigger.CHANGE: "change message",
        Trigger.STAFF: f"by {_who(message)}",
        Trigger.TURNOVER: "turnover planned",
    }.get(message.trigger, message.get_trigger_display().lower())
    return f"emailed to {message.recipient} ({how})"


def describe(message: GuestMessage, zone) -> tuple[str, str]:
    """(css class, one line) of a message for the reservation page and the admin list."""
    kind = message.get_kind_display().lower()
    if message.state == State.SENT:
        return "sent", f"{_local(message.sent_at, zone)}: {how_sent(message)}"
    if message.channel == Channel.WEBHOOK:  # sent, or failed for good: nothing between
        return "failed", (
            f"{_local(message.last_error_at, zone)}: {kind} webhook to {message.recipient} "
            f"({message.note}) failed after {counted(message.attempts, 'attempt')}: "
            f"{message.last_error}"
        )
    if message.state == State.PLANNED:
        to = message.recipient or (
            "the crew member's email" if message.is_crew else "the guest's email"
        )
        return "planned", f"{kind} email planned for {_local(message.due_at, zone)} to {to}"
    if message.state == State.RETRYING:
        return "failing", (
            f"{kind} email failed (attempt {message.attempts}): {message.last_error} — "
            f"next try {_local(message.due_at, zone)}"
        )
    if message.state == State.FAILED:
        return "failed", (
            f"{kind} email failed after {counted(message.attempts, 'attempt')}: "
            f"{message.last_error}"
        )
    if message.state == State.CANCELLED:
        return "closed", f"{kind} email cancelled: {message.note}"
    return "closed", f"{kind} email not sent: {message.note}"


def reservation_panel(request, reservation: Reservation) -> str:
    zone = reservation.listing.property.zone
    rows = list(
        GuestMessage.objects.filter(reservation=reservation)
        .select_related("sent_by")
        .order_by("-created_at", "-pk")[:SHOWN]
    )
    told = next(
        iter(
            GuestMessage.objects.filter(reservation=reservation, state=State.SENT)
            .select_related("sent_by")
            .order_by("-sent_at", "-pk")[:1]
        ),
        None,
    )
    told_when = _local(told.sent_at, zone) if told else ""
    told_how = how_sent(told) if told else ""
    # "Mark code as sent" on the reservation stamps the code without a delivery here.
    code = stay_code(reservation)
    if code is not None and code.sent_at and (told is None or code.sent_at > told.sent_at):
        told_when, told_how = _local(code.sent_at, zone), "marked as sent by hand"
    # A rotated code is news: what the guest was told before has the old one. The page's
    # door-code box says "not yet" then too (the rotation clears the code's sent mark).
    told_old = ""
    rotated_since = (
        code is not None
        and code.rotated_at is not None
        and not code.sent_at
        and told is not None
        and told.sent_at < code.rotated_at
    )
    if rotated_since:
        told_old = f"the last message ({told_when}, {told_how}) had the code before it was rotated"
        told_when, told_how = "", ""
    problem = send_problem(reservation)
    hours = schedule_hours(reservation)
    may_act = access.can_view(request.user, reservation)
    args = [reservation.pk]
    lines = []
    for message in rows:
        css, text = describe(message, zone)
        retry = (
            reverse("admin:guests_guestmessage_retry", args=[message.pk])
            if may_act and message.state == State.FAILED and message.channel == Channel.EMAIL
            else ""
        )
        # A failed webhook is resent from its delivery's page (hooks), not from here.
        details = record_link(message) if message.state == State.FAILED else ""
        lines.append({"css": css, "text": text, "retry_url": retry, "details_url": details})
    return render_to_string(
        "guests/_reservation_panel.html",
        {
            "reservation": reservation,
            "told_when": told_when,
            "told_how": told_how,
            "told_old": told_old,
            "lines": lines,
            "problem": problem,
            "hours": hours,
            "has_email": bool(reservation.guest_email),
            "may_act": may_act and not problem,
            "actions_form": ACTIONS_FORM,
            "templates_url": reverse("admin:guests_messagetemplate_changelist"),
            "email_url": reverse("admin:guests_reservation_email", args=args),
            "copy_text_url": reverse("admin:guests_reservation_copy_text", args=args),
            "copy_link_url": reverse("admin:guests_reservation_copy_link", args=args),
            # Once a link was given out, members may replace it (sent to the wrong person).
            "may_replace_link": may_act
            and GuestLink.objects.filter(reservation=reservation).exists(),
            "replace_link_url": reverse("guest_link_regenerate", args=args),
        },
        request=request,
    )


def turnover_panel(request, turnover: Turnover) -> str:
    """The turnover page's "Messages to the crew": each email to the assignee (sent,
    planned, failing with its attempts), "Retry now" on a failed one, and "Email the task
    now"."""
    from .crew import crew_problem
    from .crew_messages import NO_EMAIL_NOTE, not_wanted

    zone = turnover.listing.property.zone
    may_act = access.can_view(request.user, turnover)
    rows = list(
        GuestMessage.objects.filter(turnover=turnover)
        .select_related("sent_by")
        .order_by("-created_at", "-pk")[:SHOWN]
    )
    lines = []
    for message in rows:
        css, text = describe(message, zone)
        retry = (
            reverse("admin:guests_guestmessage_retry", args=[message.pk])
            if may_act and message.state == State.FAILED and message.channel == Channel.EMAIL
            else ""
        )
        lines.append({"css": css, "text": text, "retry_url": retry, "details_url": ""})
    problem = not_wanted(turnover, timezone.now()) or crew_problem(turnover)
    if not problem and turnover.assignee_id and not turnover.assignee.email:
        problem = NO_EMAIL_NOTE
    return render_to_string(
        "guests/_turnover_panel.html",
        {
            "lines": lines,
            "problem": problem,
            "may_act": may_act and not problem,
            "actions_form": ACTIONS_FORM,
            "email_url": reverse("admin:guests_turnover_email", args=[turnover.pk]),
            "all_url": reverse("admin:guests_guestmessage_changelist")
            + f"?turnover__id__exact={turnover.pk}",
        },
        request=request,
    )
