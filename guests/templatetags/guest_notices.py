"""Notices about guest messages on the staff's pages (the dashboard loads them: the
dashboard's view belongs to reservations, which knows nothing of guest messages)."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import format_html

from core.access import scope_queryset

from ..models import MessageTemplate

register = template.Library()


@register.simple_tag(takes_context=True)
def ready_made_templates_notice(context) -> str:
    """Ready-made templates the person's organizations were given switched off (they
    existed before the templates did): said once, with where to switch them on."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return ""
    off = scope_queryset(
        MessageTemplate.objects.filter(is_default=True, active=False), request.user
    )
    names = sorted(set(off.values_list("organization__name", flat=True)))
    if not names:
        return ""
    changelist = reverse("admin:guests_messagetemplate_changelist")
    url = f"{changelist}?is_default__exact=1&active__exact=0"
    return format_html(
        '<ul class="messagelist" id="ready-made-templates"><li class="info">'
        "Keystay's ready-made guest messages (door codes 48 hours before check-in, and a "
        "note when times change, in every language) are ready for {} but switched off, so "
        'no guest is emailed by surprise. <a href="{}">Review and switch them on</a>.'
        "</li></ul>",
        ", ".join(names),
        url,
    )
