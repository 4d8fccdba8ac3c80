"""`{% if user|manages %}`: whether a person manages any organization (core.access), so a
page offers managers' actions to managers only."""

from django import template

from core import access

register = template.Library()


@register.filter
def manages(user) -> bool:
    return access.can_manage(user)
