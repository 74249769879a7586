"""``{% safety_open_count as count %}``: the drug-safety link in the staff navigation.

None for a user who may not work notices (no query then); otherwise their open notices, in one
query. The layout includes the navigation on every desk page, so no view has to pass it.
"""

from django import template

from refdesk.access.selectors import notice_open_count

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
