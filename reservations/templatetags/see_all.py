"""`{% see_all section colspan %}`: the row under a list cut at its first rows
(reservations.sections)."""

from django import template

from reservations.sections import see_all_row

register = template.Library()


@register.simple_tag
def see_all(section, colspan=1):
    return see_all_row(section, colspan)
