"""Template filters of the reports pages."""

from django import template

from refdesk.access import policy

register = template.Library()


@register.filter
def reads_reports(user) -> bool:
    return policy.has_perm(user, "reports.view")
