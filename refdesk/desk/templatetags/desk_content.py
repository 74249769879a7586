"""Template tags of the content pages, for the layout.

``{% content_nav as nav %}``: which of the Content and Outbox links the staff navigation shows,
decided from the role and a setting alone (no query: the layout is on every desk page). The
Content link is for the roles that read every program's templates and materials; staff who read
only their own team's reach the page from it too, by address. The Outbox link only when
``settings.REFDESK_OUTBOX`` is on (development).
"""

from django import template
from django.conf import settings

from refdesk.access import policy

register = template.Library()


@register.simple_tag(takes_context=True)
def content_nav(context) -> dict:
    user = context.get("user")
    if user is None or not policy.is_staff_user(user):
        return {"content": False, "outbox": False}
    return {
        "content": user.role in policy.CONTENT_READ_ALL_ROLES,
        "outbox": bool(settings.REFDESK_OUTBOX) and policy.has_perm(user, "outbox.view"),
    }
