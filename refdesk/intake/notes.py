"""Staff notes: free text typed while acting on a referral, stored encrypted with it.

``note_write`` runs inside the workflow service that takes the action; that service's audit event
carries ``note_changes(note)`` — the note's public id and a keyed fingerprint of its text — so the
append-only trail proves what was written and when without ever holding the words.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from refdesk.audit.services import Actor, actor_label
from refdesk.core.crypto import fingerprint
from refdesk.core.errors import ValidationFailed
from refdesk.core.text import text_check, text_error
from refdesk.intake.models import Referral, ReferralNote

NOTE_MAX = 2000


def note_write(
    *,
    referral: Referral,
    kind: str,
    text: str,
    actor: Actor,
    at: datetime | None = None,
) -> ReferralNote | None:
    """Store ``text`` (stripped, normalised) as a note on the referral; None when there is no
    text. Text breaking the text rule (refdesk.core.text: control, direction or invisible
    characters) raises ``ValidationFailed`` (field ``note``), so the calling service's
    transaction writes nothing; the console's forms check the same rule first, per field."""
    text, problem = text_check((text or "").strip(), multiline=True)
    if problem is not None:
        raise ValidationFailed([text_error("note", problem)])
    if not text:
        return None
    return ReferralNote.objects.create(
        referral=referral,
        kind=kind,
        text=text[:NOTE_MAX],
        written_by=actor_label(actor),
        written_at=at or timezone.now(),
    )


def note_changes(note: ReferralNote | None) -> dict:
    """What an audit event records of a note: its public id and a keyed fingerprint."""
    if note is None:
        return {}
    return {"note": (None, {"id": str(note.public_id), "fingerprint": fingerprint(note.text)})}


def notes_by_id(referral: Referral) -> dict[str, ReferralNote]:
    """The referral's notes by public id (one query), for its timeline."""
    return {str(note.public_id): note for note in ReferralNote.objects.filter(referral=referral)}
