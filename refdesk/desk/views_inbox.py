"""The user's own pages: notifications (new assignments, contact attempts due, SLA warnings and
escalations, approvals of templates and materials ending; a notification names a referral, or
only a subject) and preferences (the time zone the console shows times in).

Only ever the signed-in user's own data: no id in the URL names anyone else's.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from refdesk.accounts.selectors import user_timezone
from refdesk.accounts.services import user_timezone_set
from refdesk.core.errors import ApplicationError
from refdesk.core.timezones import timezone_choices
from refdesk.workflow.notifications import (
    SLA_WARNING,
    inbox_count,
    inbox_for,
    notifications_mark_read,
)


@require_GET
@login_required
@never_cache
def notifications(request):
    inbox = inbox_for(request.user)
    context = {
        "inbox": inbox,
        "warning_hours": int(SLA_WARNING.total_seconds() // 3600),
        "now": timezone.now(),
    }
    return render(request, "desk/notifications.html", context)


@require_GET
@login_required
@never_cache
def notifications_badge(request):
    """The nav link's text with its count, for htmx to load after the page (the page itself
    spends no query on it)."""
    count = inbox_count(request.user)
    text = (
        f'Notifications <span class="badge badge--count">{count}</span>'
        if count
        else ("Notifications")
    )
    response = HttpResponse(text)
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
@login_required
def notifications_read(request):
    marked = notifications_mark_read(user=request.user)
    messages.success(
        request,
        f"{marked} notification(s) marked as read." if marked else ("There was nothing unread."),
    )
    return redirect("desk:notifications")


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request):
    error = None
    chosen = request.user.timezone
    if request.method == "POST":
        chosen = (request.POST.get("timezone") or "").strip()
        try:
            with transaction.atomic():
                changed = user_timezone_set(user=request.user, timezone=chosen, actor=request.user)
        except ApplicationError as failure:
            error = failure.message[:1].upper() + failure.message[1:] + "."
        else:
            zone = user_timezone(request.user)
            messages.success(
                request,
                f"Times are now shown in {zone.key}." if changed else "Nothing changed.",
            )
            return redirect("desk:preferences")
    context = {
        "choices": timezone_choices(),
        "chosen": chosen,
        "current": user_timezone(request.user).key,
        "error": error,
    }
    return render(request, "desk/preferences.html", context, status=422 if error else 200)
