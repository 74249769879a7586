"""Template filters of the audit pages: ``user|reads_audit`` decides the navigation's "Audit
trail" link and the referral page's link to its history, from the role alone (no query)."""

from django import template

from refdesk.access import policy

register = template.Library()


@register.filter
def reads_audit(user) -> bool:
    return policy.has_perm(user, "audit.read")
