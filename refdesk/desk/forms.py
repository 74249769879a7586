"""Parsing of the referral action posts: plain values in, service arguments out.

Each parser reads ``request.POST`` and returns the keyword arguments of one service call, or
raises ``ValidationFailed`` with a message per field (rendered on the page, never a 500).
"""

from __future__ import annotations

import re
from datetime import datetime

from refdesk.core.errors import ValidationFailed
from refdesk.core.text import text_check, text_error
from refdesk.intake.choices import OUTCOME_REASONS, Outcome, PrescreenOutcome

# Outcomes the generic "close" action offers (qualify and disqualify have their own buttons).
CLOSE_OUTCOMES = tuple(
    outcome
    for outcome in Outcome.values
    if outcome not in (Outcome.QUALIFIED, Outcome.NOT_QUALIFIED)
)
TEXT_MAX = 2000
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": field, "code": "invalid", "message": message}])


def text(post, field: str, *, required: bool, label: str) -> str:
    """A free-text field (note, reason): stripped, normalised, and refused with its field named
    when it breaks the text rule (refdesk.core.text)."""
    value, problem = text_check((post.get(field) or "").strip(), multiline=True)
    if problem is not None:
        raise ValidationFailed([text_error(field, problem)])
    if required and not value:
        raise _error(field, f"{label} is required.")
    if len(value) > TEXT_MAX:
        raise _error(field, f"{label} can be at most {TEXT_MAX} characters.")
    return value


def reason_code(post, outcome: str) -> str:
    code = (post.get("reason_code") or "").strip()
    if code not in OUTCOME_REASONS.get(outcome, ()):
        raise _error("reason_code", "Choose a reason code for this outcome.")
    return code


def close_choice(post) -> tuple[str, str]:
    """(outcome, reason code) of the close form: one choice "outcome:code" (the form lists each
    outcome's own codes under it), or the two fields apart (API-style posts)."""
    combined = (post.get("outcome_reason") or "").strip()
    if combined:
        outcome, _, code = combined.partition(":")
        if outcome not in CLOSE_OUTCOMES or code not in OUTCOME_REASONS.get(outcome, ()):
            raise _error("outcome", "Choose an outcome and its reason from the list.")
        return outcome, code
    if not (post.get("outcome") or "").strip():
        raise _error("outcome", "Choose an outcome and its reason.")
    outcome = close_outcome(post)
    return outcome, reason_code(post, outcome)


def close_outcome(post) -> str:
    outcome = (post.get("outcome") or "").strip()
    if outcome not in CLOSE_OUTCOMES:
        raise _error("outcome", "Choose an outcome.")
    return outcome


def prescreen_outcome(post) -> str:
    outcome = (post.get("prescreen_outcome") or "").strip()
    if outcome not in PrescreenOutcome.values:
        raise _error("prescreen_outcome", "Choose a prescreen outcome.")
    return outcome


def assignee(post) -> str:
    """The chosen team member's public id, as posted (the view resolves it)."""
    value = (post.get("assignee") or "").strip()
    if not value:
        raise _error("assignee", "Choose a team member.")
    return value


def queue_slug(post) -> str:
    slug = (post.get("queue") or "").strip()
    if not _SLUG.match(slug):
        raise _error("queue", "Choose a queue.")
    return slug


def slot_start(post, field: str = "starts_at"):
    """A slot's start as posted by the slot list (ISO 8601 with its offset), aware."""
    raw = (post.get(field) or "").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise _error(field, "Choose a time from the list.") from None
    if value.tzinfo is None:
        raise _error(field, "Choose a time from the list.")
    return value


def choice(post, field: str, allowed, message: str) -> str:
    value = (post.get(field) or "").strip()
    if value not in allowed:
        raise _error(field, message)
    return value
