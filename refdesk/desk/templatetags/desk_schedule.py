"""Template filters of the schedule pages, for the layout.

``{% if user|schedules %}``: whether the staff navigation shows the Agenda link — the role
alone decides (``agenda.view``), so the layout, on every desk page, spends no query on it.
"""

from django import template

from refdesk.access import policy

register = template.Library()


@register.filter
def schedules(user) -> bool:
    return policy.has_perm(user, "agenda.view")
