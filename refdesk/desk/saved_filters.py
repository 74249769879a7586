"""A staff member's saved filters: save one, delete one (only ever their own).

Not referral state and no patient data (filters name stages, sources, request types, SLA
states, sorts and assignees), so a plain service without an audit event.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.http import QueryDict

from refdesk.core.errors import ApplicationError, NotFound
from refdesk.desk.models import SavedFilter

NAME_MAX = SavedFilter._meta.get_field("name").max_length


def clean_query(query: str, *, keys: tuple[str, ...]) -> str:
    """The query string with only the known filter ``keys`` (in that order), one value each."""
    incoming = QueryDict(query or "")
    return urlencode({key: incoming[key] for key in keys if incoming.get(key)})


def saved_filter_save(*, owner, name: str, page: str, query: str, keys: tuple[str, ...]):
    """Save the filters of ``page`` (a queue slug or ``my-work``) under ``name`` for ``owner``.
    Unknown keys in ``query`` are dropped; a name the owner already uses is refused."""
    name = " ".join((name or "").split())
    if not name:
        raise ApplicationError("Give the filter a name.", code="name_required", field="name")
    if len(name) > NAME_MAX:
        raise ApplicationError(
            f"Use at most {NAME_MAX} characters for the name.", code="name_too_long", field="name"
        )
    try:
        with transaction.atomic():
            return SavedFilter.objects.create(
                owner=owner, name=name, queue=page, query=clean_query(query, keys=keys)
            )
    except IntegrityError:
        raise ApplicationError(
            f"You already have a saved filter called “{name}”; choose another name.",
            code="name_taken",
            field="name",
        ) from None


def saved_filter_delete(*, owner, public_id) -> SavedFilter:
    """Delete one of ``owner``'s saved filters; anyone else's is the same "not found"."""
    saved = SavedFilter.objects.filter(owner=owner, public_id=public_id).first()
    if saved is None:
        raise NotFound("Not found.")
    saved.delete()
    return saved
