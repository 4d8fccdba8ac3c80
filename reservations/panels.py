"""Sections that the apps above add to the reservation page, the turnover page (and to
the dashboard, below).

`reservations` never imports those apps (guest messages, say), yet their part of a stay
belongs on its page. An app registers a panel in its `AppConfig.ready()`: a callable
`(request, reservation) -> HTML` that the reservation's change page shows among its
fieldsets. A panel's buttons post through the page's empty form `reservation-panel-actions`
(`<button form="reservation-panel-actions" formaction="...">`, its CSRF token inside), not
the reservation's own form: Enter in a field of the reservation keeps saving it. A panel
that fails is logged and replaced by a short note: one app's bug never takes the
reservation page down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from .models import Reservation

logger = logging.getLogger(__name__)

# The id of the form that panels' buttons post through (see the module's docstring).
ACTIONS_FORM = "reservation-panel-actions"

PanelRenderer = Callable[[HttpRequest, Reservation], str]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    render: PanelRenderer
    order: int


_panels: dict[str, Panel] = {}


def register(key: str, title: str, render: PanelRenderer, *, order: int = 100) -> None:
    """Show `render`'s HTML on every reservation page, under `title`. Registering the same
    key again replaces the panel (ready() may run more than once in tests)."""
    _panels[key] = Panel(key=key, title=title, render=render, order=order)


def unregister(key: str) -> None:
    _panels.pop(key, None)


def _rendered(registry: dict[str, Panel], request, obj) -> list[tuple[str, str, SafeString]]:
    out = []
    for panel in sorted(registry.values(), key=lambda p: (p.order, p.key)):
        try:
            html = SafeString(panel.render(request, obj))
        except Exception:
            logger.exception("Panel %s failed for %r %s", panel.key, type(obj).__name__, obj.pk)
            html = format_html('<p class="errornote">{}</p>', "This section could not be shown.")
        out.append((panel.key, panel.title, html))
    return out


def rendered(request: HttpRequest, reservation: Reservation) -> list[tuple[str, str, SafeString]]:
    """(key, title, HTML) of every registered panel for this reservation, in order."""
    return _rendered(_panels, request, reservation)


# The turnover page's sections (the crew's messages), the same way: `(request, turnover)
# -> HTML`, buttons posting through the page's form ACTIONS_FORM.
_turnover_panels: dict[str, Panel] = {}


def register_turnover_panel(key: str, title: str, render, *, order: int = 100) -> None:
    _turnover_panels[key] = Panel(key=key, title=title, render=render, order=order)


def turnover_rendered(request: HttpRequest, turnover) -> list[tuple[str, str, SafeString]]:
    return _rendered(_turnover_panels, request, turnover)


# ------------------------------------------------------------------ dashboard sections

# Sections that apps above add to the dashboard (calendar feeds that fail): a callable
# `(request) -> HTML` registered in the app's ready(); one that fails is logged and left out.
DashboardSection = Callable[[HttpRequest], str]
_sections: dict[str, tuple[int, DashboardSection]] = {}


def register_dashboard_section(key: str, render: DashboardSection, *, order: int = 100) -> None:
    _sections[key] = (order, render)


def dashboard_sections(request: HttpRequest) -> list[SafeString]:
    out = []
    for key, (_order, render) in sorted(_sections.items(), key=lambda item: (item[1][0], item[0])):
        try:
            out.append(SafeString(render(request)))
        except Exception:
            logger.exception("Dashboard section %s failed", key)
    return out
