"""Template tags of the drug-safety pages, for templates other views render.

``{% safety_open_count as count %}``: the drug-safety link in the staff navigation. None for a
user who may not work notices (no query then); otherwise their open notices, in one query. The
layout includes the navigation on every desk page, so no view has to pass it.

``{% safety_notice_link notice as link %}``: for the referral page's list of notices, the URL
and state of a notice the user may work, else None (``desk/_safety_notice_link.html``).
"""

from django import template
from django.urls import reverse

from refdesk.access import policy
from refdesk.access.selectors import notice_open_count
from refdesk.workflow.safety import notice_state

register = template.Library()


@register.simple_tag(takes_context=True)
def safety_open_count(context) -> int | None:
    user = context.get("user")
    if user is None:
        request = context.get("request")
        user = getattr(request, "user", None)
    if user is None:
        return None
    return notice_open_count(user=user)


@register.simple_tag(takes_context=True)
def safety_notice_link(context, notice) -> dict | None:
    user = context.get("user")
    if notice is None or user is None or not policy.has_perm(user, "notice.view", notice):
        return None
    return {
        "url": reverse("desk:safety_notice", kwargs={"public_id": notice.public_id}),
        "state": notice_state(notice),
    }
