"""Drug-safety notices: a possible adverse event, acknowledged and triaged by a safety officer.

A referral whose free text suggests a side effect is flagged ``possible_adverse_event`` and a
``QueueNotice`` goes to the ``drug-safety`` queue with the referral's time of receipt: day 0 of
the regulatory clocks. The program version that handled the referral sets them
(``safety: {triage_hours, expedited_report_days}``): triage is due ``triage_hours`` after day 0,
and a serious adverse event must be reported within ``expedited_report_days`` calendar days of it.

1. ``notice_acknowledge`` — an officer takes note of it (who, when). One conditional UPDATE
   ``WHERE acknowledged_at IS NULL``: of two officers acknowledging at once, one wins and the
   other is told who did.
2. ``notice_triage`` — the officer decides (``TriageDecision``), with the safety database's case
   id (required for an adverse event) and an optional note (encrypted with the referral, like
   every staff note). Any decision but "needs follow-up" closes the notice; "needs follow-up"
   keeps it open for another triage. Triaging an unacknowledged notice acknowledges it first.
   One conditional UPDATE ``WHERE closed_at IS NULL AND triage_count = <read>``.

A notice is never closed without a triage decision: only ``notice_triage`` sets ``closed_at``,
and a check constraint (``notice_closed_only_by_triage``) refuses any other way. Every step
writes its audit event (subject: the referral, so it joins the referral's timeline) in the same
transaction. The referral itself is never changed here: the officer does not work the lead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from refdesk.access import policy
from refdesk.access.selectors import NOT_FOUND_MESSAGE
from refdesk.accounts.models import User
from refdesk.audit.services import actor_label, audit_batch, audit_record
from refdesk.core import sql
from refdesk.core.errors import Conflict, NotFound, ValidationFailed
from refdesk.intake.models import NoteKind, Referral
from refdesk.intake.notes import NOTE_MAX, note_changes, note_write
from refdesk.programs.schema import Safety
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import AE_TRIAGE, CLOSING_TRIAGE, TriageDecision
from refdesk.routing.models import QueueNotice

# The kind of the staff note written with a triage.
SAFETY_NOTE_KIND = NoteKind.SAFETY_TRIAGE

CASE_ID_MAX = 40
# A safety database's case id: letters, digits and - _ . / : (e.g. "AE-2026-000123"), no spaces,
# no "@" or "+": nothing that reads like a name, an e-mail address or a phone number.
CASE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*")


# --- the clocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeClocks:
    """The regulatory clocks of one notice, all from day 0 (the referral's receipt)."""

    received_at: datetime  # day 0
    triage_hours: int
    triage_due_at: datetime
    expedited_report_days: int
    expedited_due_at: datetime  # for a serious adverse event

    def triage_overdue(self, now: datetime) -> bool:
        return now > self.triage_due_at

    def expedited_overdue(self, now: datetime) -> bool:
        return now > self.expedited_due_at


def notice_clocks(notice: QueueNotice) -> NoticeClocks:
    """The notice's clocks under the program version that handled its referral (versions are
    immutable, so a later change of the window never moves an existing notice's due times)."""
    rules: Safety = version_definition(notice.referral.program_version).safety
    day0 = notice.received_at
    return NoticeClocks(
        received_at=day0,
        triage_hours=rules.triage_hours,
        triage_due_at=day0 + timedelta(hours=rules.triage_hours),
        expedited_report_days=rules.expedited_report_days,
        expedited_due_at=day0 + timedelta(days=rules.expedited_report_days),
    )


def notice_state(notice: QueueNotice) -> str:
    """The notice's state in words for pages (never a code)."""
    if notice.closed_at is not None:
        return f"Closed: {TriageDecision(notice.triage_decision).label}"
    if notice.triage_decision == TriageDecision.NEEDS_FOLLOW_UP:
        return "Needs follow-up"
    if notice.acknowledged_at is not None:
        return "Acknowledged, awaiting triage"
    return "New"


# --- validation ----------------------------------------------------------------------------------


def _error(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


def _lead_markers(referral: Referral) -> list[str]:
    """Lowercased pieces of the lead's identity a case id must not contain."""
    lead = referral.lead or {}
    markers = []
    for key in ("given_name", "family_name", "name"):
        value = str(lead.get(key) or "").strip().lower()
        markers += [part for part in re.split(r"\W+", value) if len(part) >= 3]
    email = str(lead.get("email") or "").strip().lower()
    if email:
        markers += [email, email.partition("@")[0]]
    return [marker for marker in markers if len(marker) >= 3]


def _phone_digits(referral: Referral) -> str:
    digits = re.sub(r"\D", "", str((referral.lead or {}).get("phone") or ""))
    return digits[-7:] if len(digits) >= 7 else ""


def case_id_errors(case_id: str, *, referral: Referral, required: bool) -> list[dict]:
    """What is wrong with a case id (none: it is fine). Messages never repeat the value."""
    if not case_id:
        if required:
            return [
                _error(
                    "case_id",
                    "case_id_required",
                    "Enter the case id from the safety database for an adverse event.",
                )
            ]
        return []
    if len(case_id) > CASE_ID_MAX:
        return [
            _error(
                "case_id",
                "case_id_too_long",
                f"The case id must be at most {CASE_ID_MAX} characters.",
            )
        ]
    if not CASE_ID_PATTERN.fullmatch(case_id) or not re.search(r"\d", case_id):
        return [
            _error(
                "case_id",
                "case_id_invalid",
                "Enter the case id as the safety database shows it: letters, digits and "
                "- _ . / : only, with at least one digit, no spaces (for example AE-2026-000123).",
            )
        ]
    lowered = case_id.lower()
    phone = _phone_digits(referral)
    if any(marker in lowered for marker in _lead_markers(referral)) or (
        phone and phone in re.sub(r"\D", "", case_id)
    ):
        return [
            _error(
                "case_id",
                "case_id_has_patient_data",
                "The case id must not contain the lead's name or contact details: enter the "
                "safety database's own id.",
            )
        ]
    return []


def triage_errors(
    *, notice: QueueNotice, decision: str, case_id: str, note: str
) -> list[dict[str, str]]:
    """Every problem with a triage, each on its field, for one round of corrections."""
    errors = []
    if decision not in TriageDecision.values:
        errors.append(
            _error("decision", "decision_required", "Choose a triage decision for this notice.")
        )
    errors += case_id_errors(case_id, referral=notice.referral, required=decision in AE_TRIAGE)
    if len(note) > NOTE_MAX:
        errors.append(
            _error("note", "note_too_long", f"The note must be at most {NOTE_MAX} characters.")
        )
    return errors


# --- the services --------------------------------------------------------------------------------


def _authorize(user: User, action: str, notice: QueueNotice) -> None:
    if not policy.has_perm(user, f"notice.{action}", notice):
        raise NotFound(NOT_FOUND_MESSAGE)


def _who(label: str) -> str:
    """An audit label as a person reads it: ``user:sana`` -> ``sana``."""
    return label.partition(":")[2] or label


def _current(notice: QueueNotice) -> QueueNotice:
    return QueueNotice.objects.get(pk=notice.pk)


def _refresh(notice: QueueNotice, fields: Iterable[str], values: dict[str, Any]) -> None:
    for field in fields:
        setattr(notice, field, values[field])


def _closed_error(current: QueueNotice) -> Conflict:
    return Conflict(
        f"This notice was already triaged and closed by {_who(current.triaged_by)}.",
        code="notice_closed",
    )


def notice_acknowledge(
    *, notice: QueueNotice, user: User, now: datetime | None = None
) -> QueueNotice:
    """Record that ``user`` has taken note of the notice (who, when), audited
    ``notice.acknowledged``. Already acknowledged (now or by a concurrent officer), or closed:
    ``Conflict`` naming who did it, nothing written."""
    _authorize(user, "acknowledge", notice)
    now = now or timezone.now()
    label = actor_label(user)
    with transaction.atomic(), audit_batch():
        values = {"acknowledged_at": now, "acknowledged_by": label, "updated_at": now}
        changed = sql.update(notice, values, where={"acknowledged_at": None, "closed_at": None})
        if changed != 1:
            current = _current(notice)
            if current.closed_at is not None:
                raise _closed_error(current)
            raise Conflict(
                f"This notice was already acknowledged by {_who(current.acknowledged_by)}.",
                code="already_acknowledged",
            )
        audit_record(
            actor=user,
            action="notice.acknowledged",
            subject=notice.referral,
            changes={
                "notice": (None, str(notice.public_id)),
                "queue": (None, notice.queue.slug),
                "acknowledged_at": (None, now.isoformat()),
            },
        )
    _refresh(notice, values, values)
    return notice


def notice_triage(
    *,
    notice: QueueNotice,
    user: User,
    decision: str,
    case_id: str = "",
    note: str = "",
    now: datetime | None = None,
) -> QueueNotice:
    """Record the officer's triage decision; close the notice unless it needs follow-up.

    Invalid input: ``ValidationFailed`` with every field's error, nothing written. Closed
    meanwhile, or triaged by someone else since it was read: ``Conflict``, nothing written.
    Audited ``notice.triaged`` (decision and case id old -> new, closed or not, the note's id
    and fingerprint); an unacknowledged notice is acknowledged first (its own event).
    """
    _authorize(user, "triage", notice)
    decision = (decision or "").strip()
    case_id = (case_id or "").strip()
    note = (note or "").strip()
    errors = triage_errors(notice=notice, decision=decision, case_id=case_id, note=note)
    if errors:
        raise ValidationFailed(errors)
    now = now or timezone.now()
    closes = decision in CLOSING_TRIAGE
    with transaction.atomic(), audit_batch():
        if notice.closed_at is not None:
            raise _closed_error(notice)
        if notice.acknowledged_at is None:
            try:
                notice_acknowledge(notice=notice, user=user, now=now)
            except Conflict as refused:
                if refused.code != "already_acknowledged":
                    raise
                # Someone else acknowledged it meanwhile: the triage is still this officer's.
        written = note_write(
            referral=notice.referral, kind=SAFETY_NOTE_KIND, text=note, actor=user, at=now
        )
        values = {
            "triage_decision": decision,
            "triaged_at": now,
            "triaged_by": actor_label(user),
            "case_id": case_id,
            "triage_note": written,
            "triage_count": notice.triage_count + 1,
            "closed_at": now if closes else None,
            "updated_at": now,
        }
        changed = sql.update(
            notice, values, where={"closed_at": None, "triage_count": notice.triage_count}
        )
        if changed != 1:
            current = _current(notice)
            if current.closed_at is not None:
                raise _closed_error(current)
            raise Conflict(
                f"{_who(current.triaged_by)} triaged this notice meanwhile. "
                "Reload it before triaging again.",
                code="changed_meanwhile",
            )
        audit_record(
            actor=user,
            action="notice.triaged",
            subject=notice.referral,
            changes={
                "notice": (None, str(notice.public_id)),
                "queue": (None, notice.queue.slug),
                "decision": (notice.triage_decision or None, decision),
                "case_id": (notice.case_id or None, case_id or None),
                "closed": (False, closes),
                **note_changes(written),
            },
        )
    _refresh(notice, values, values)
    if written is not None:
        notice.triage_note_id = written.pk
    return notice
