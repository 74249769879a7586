"""Search ``/desk/search``: by reference or referrer code for all staff; by lead email or phone
(through the blind index) only for roles that may see patient data; by the lead's name (any
part of it from its first letters: "jos mor" finds José Moreno) only for roles that see the
lead's identity, through the name-token blind index (docs/privacy-search.md).

The form posts (CSRF), so an email address or phone number never lands in a URL, a browser
history, a proxy log or a Referer header; a GET with ``?q=`` is served for references and
referrer codes only (handy for links) and refuses to search anything else. The query is never
logged. Results are limited to ``referral_list_visible_to`` (names: to the referrals whose
lead the user sees); a role that may not search by patient data gets exactly what an unmatched
query gets: no results. A name word shorter than ``NAME_TOKEN_MIN`` letters is refused with a
message, whoever asks (it would match half the table; nothing is looked up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from refdesk.access import policy
from refdesk.access.selectors import (
    lead_names_for_visible,
    referral_list_visible_to,
    referral_name_matches,
)
from refdesk.accounts import roles
from refdesk.core.crypto import NAME_TOKEN_MIN, email_index, name_query_words, phone_index
from refdesk.core.references import parse_referral_reference, parse_referrer_code
from refdesk.intake.models import Referral

RESULT_LIMIT = 25
QUERY_MAX = 200
TOO_SHORT = f"Type at least {NAME_TOKEN_MIN} letters of each part of a name."


@dataclass(frozen=True)
class SearchResult:
    referrals: list[Referral] = field(default_factory=list)
    message: str = ""  # why nothing was searched (the query is never repeated in it)


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


def _looks_like_contact(query: str) -> bool:
    """An email address or a phone number, not a name (names have no digits, no @)."""
    return "@" in query or any(ch.isdigit() for ch in query)


def referral_search(*, user, query: str, allow_patient_data: bool) -> SearchResult:
    """Referrals the user may see matching the query, newest first (at most RESULT_LIMIT)."""
    query = (query or "").strip()[:QUERY_MAX]
    if not query:
        return SearchResult()
    condition = _identifier_filter(query)
    if condition is None and allow_patient_data and not _looks_like_contact(query):
        words, too_short = name_query_words(query)
        if too_short or not words:
            return SearchResult(message=TOO_SHORT)
        return SearchResult(referral_name_matches(user=user, words=words, limit=RESULT_LIMIT))
    if (
        condition is None
        and allow_patient_data
        and policy.is_staff_user(user)
        and user.role in roles.PATIENT_DATA_ROLES
    ):
        condition = _patient_filter(query)
    if condition is None:
        return SearchResult()
    return SearchResult(
        list(
            referral_list_visible_to(user=user)
            .filter(condition)
            .select_related("program", "queue", "referrer")
            .order_by("-received_at")[:RESULT_LIMIT]
        )
    )


@login_required
@never_cache
@require_http_methods(["GET", "POST"])
def search(request):
    posted = request.method == "POST"
    query = (request.POST if posted else request.GET).get("q", "")
    result = referral_search(user=request.user, query=query, allow_patient_data=posted)
    # Showing patient names is audited, with the page. No savepoint: nothing here is retried.
    with transaction.atomic(savepoint=False):
        names = lead_names_for_visible(
            user=request.user, referrals=result.referrals, purpose="search"
        )
    context = {
        "query": query[:QUERY_MAX],
        "searched": bool(query.strip()),
        "rows": [(referral, names[referral.pk]) for referral in result.referrals],
        "message": result.message,
        "limited": len(result.referrals) >= RESULT_LIMIT,
        "limit": RESULT_LIMIT,
        "min_letters": NAME_TOKEN_MIN,
        # A link may search by reference or code; anything else must come through the form.
        "get_refused": not posted
        and bool(query.strip())
        and _identifier_filter(query.strip()) is None,
    }
    return render(request, "desk/referral_search.html", context)
