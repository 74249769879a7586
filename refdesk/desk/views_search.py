"""Search ``/desk/search``: by reference or referrer code for all staff; by lead email or phone
(through the blind index) only for roles that may see patient data.

The form posts (CSRF), so an email address or phone number never lands in a URL, a browser
history, a proxy log or a Referer header; a GET with ``?q=`` is served for references and
referrer codes only (handy for links) and refuses to search anything else. The query is never
logged. Results are limited to ``referral_list_visible_to``; a role that may not search by
patient data gets exactly what an unmatched query gets: no results.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from refdesk.access import policy
from refdesk.access.selectors import lead_view, referral_list_visible_to
from refdesk.accounts import roles
from refdesk.core.crypto import email_index, phone_index
from refdesk.core.references import parse_referral_reference, parse_referrer_code
from refdesk.intake.models import Referral

RESULT_LIMIT = 50
QUERY_MAX = 200


def _identifier_filter(query: str) -> Q | None:
    """Reference or referrer code: not patient data, searchable by all staff."""
    reference = parse_referral_reference(query)
    if reference:
        return Q(reference=reference)
    code = parse_referrer_code(query)
    if code:
        return Q(referrer__code=code)
    return None


def _patient_filter(query: str) -> Q | None:
    """Lead email or phone, matched through the blind index (nothing decrypted to search)."""
    if "@" in query:
        index = email_index(query)
        return Q(email_index=index) if index else None
    index = phone_index(query)
    return Q(phone_index=index) if index else None


def referral_search(*, user, query: str, allow_patient_data: bool) -> list[Referral]:
    """Referrals the user may see matching the query, newest first (at most RESULT_LIMIT)."""
    query = (query or "").strip()[:QUERY_MAX]
    if not query:
        return []
    condition = _identifier_filter(query)
    if (
        condition is None
        and allow_patient_data
        and policy.is_staff_user(user)
        and user.role in roles.PATIENT_DATA_ROLES
    ):
        condition = _patient_filter(query)
    if condition is None:
        return []
    return list(
        referral_list_visible_to(user=user)
        .filter(condition)
        .select_related("program", "queue", "queue__team", "referrer")
        .order_by("-received_at")[:RESULT_LIMIT]
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def search(request):
    posted = request.method == "POST"
    query = (request.POST if posted else request.GET).get("q", "")
    results = referral_search(user=request.user, query=query, allow_patient_data=posted)
    with transaction.atomic():  # showing lead names is audited, with the page
        rows = [
            (referral, (lead_view(user=request.user, referral=referral, purpose="search") or {}))
            for referral in results
        ]
    context = {
        "query": query[:QUERY_MAX],
        "searched": bool(query.strip()),
        "rows": rows,
        # A link may search by reference or code; anything else must come through the form.
        "get_refused": not posted
        and bool(query.strip())
        and _identifier_filter(query.strip()) is None,
    }
    return render(request, "desk/referral_search.html", context)
