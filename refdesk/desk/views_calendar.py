"""The private calendar feed: a page to create or revoke one's feed URL, and the feed itself.

``/desk/calendar/`` shows whether a feed is live, when it was created and last read;
``calendar/create`` makes a new URL (revoking the old one) and shows it once — only its hash
is stored, so it can never be shown again; ``calendar/revoke`` ends it.

``GET /calendar/<token>.ics`` is read by calendar programs, which have no session: the token
in the URL is the credential (256 random bits), so the view needs no login. An unknown or
revoked token is a plain 404. The body lists the member's appointments from 30 days ago to 90
days ahead, each as its type and referral reference — never the lead's name or contact — and
is never cached by anything between the server and the calendar.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseNotFound
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST, require_safe

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.selectors import user_timezone
from refdesk.scheduling.invites import feed_ics
from refdesk.scheduling.selectors import feed_appointments, feed_for_token, live_feed
from refdesk.scheduling.services import (
    calendar_feed_create,
    calendar_feed_mark_read,
    calendar_feed_revoke,
)


def _require_feed_user(request) -> None:
    if not policy.has_perm(request.user, "calendar.feed"):
        raise Http404(NOT_FOUND_MESSAGE)


def _private(response):
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _render(request, *, feed_url: str = ""):
    context = {
        "feed": live_feed(request.user),
        "feed_url": feed_url,
        "viewer_tz": user_timezone(request.user),
    }
    return _private(TemplateResponse(request, "desk/schedule/calendar.html", context))


@login_required
@require_GET
@never_cache
def calendar(request):
    _require_feed_user(request)
    return _render(request)


@login_required
@require_POST
@never_cache
def calendar_create(request):
    """Shown in the response to the post, never stored nor redirected: the URL's only copy."""
    _require_feed_user(request)
    token = calendar_feed_create(user=request.user, actor=request.user)
    url = request.build_absolute_uri(reverse("calendar:feed", kwargs={"token": token}))
    return _render(request, feed_url=url)


@login_required
@require_POST
@never_cache
def calendar_revoke(request):
    _require_feed_user(request)
    if calendar_feed_revoke(user=request.user, actor=request.user):
        messages.success(request, "Your calendar link is revoked: it no longer works.")
    else:
        messages.success(request, "You had no calendar link to revoke.")
    return redirect("desk:calendar")


@require_safe
def feed(request, token: str):
    found = feed_for_token(token)
    # A member whose role no longer holds appointments keeps no feed either.
    if found is None or not policy.has_perm(found.user, "calendar.feed"):
        return _private(HttpResponseNotFound(NOT_FOUND_MESSAGE, content_type="text/plain"))
    now = timezone.now()
    body = feed_ics(
        feed_appointments(found.user, now=now),
        zone=user_timezone(found.user),
        name="refdesk appointments",
    )
    calendar_feed_mark_read(feed=found, at=now)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    return _private(response)
