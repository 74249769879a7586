"""Reads of consent: ``consent_current`` — the one answer to "what permission is in force for
this lead now?" — the consent history, and whether the permission covers a channel and purpose.

Every reader uses these: routing facts (the engine's ``consent`` fact), the contact check that
gates every message, the console, the referrer's status page and simulation (through
``consent_state``, the same rule over plain values).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from refdesk.consent.choices import ConsentEvent, ConsentState
from refdesk.consent.models import ConsentRecord
from refdesk.programs.schema_intake import Consent
from refdesk.programs.selectors import version_definition


def consent_rules(referral) -> Consent | None:
    """The consent block of the program version that handles the referral (None: no consent)."""
    return version_definition(referral.program_version).consent


def consent_needed(rules: Consent | None, lead_kind: str) -> bool:
    """Does the program need documented consent before contacting this kind of lead?"""
    return rules is not None and lead_kind in rules.for_lead_kinds


def consent_state(
    *, needed: bool, event: str | None, granted: bool, expires_at: Any, now: Any
) -> str:
    """The state of the newest consent event at ``now`` (``event`` None: there is none).

    ``expires_at`` and ``now`` only need to compare with each other (aware datetimes, or the
    database's text for both, as simulation reads them).
    """
    if event is None:
        return ConsentState.NOT_GRANTED if needed else ConsentState.NOT_REQUIRED
    if event == ConsentEvent.EXPIRED or (granted and expires_at is not None and expires_at <= now):
        return ConsentState.EXPIRED
    if granted:
        return ConsentState.GRANTED
    return ConsentState.WITHDRAWN if event == ConsentEvent.WITHDRAWN else ConsentState.NOT_GRANTED


@dataclass(frozen=True)
class CurrentConsent:
    """The permission in force: its state and, while granted, what it covers."""

    state: str  # a ConsentState value
    purposes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    expires_at: datetime | None = None
    record: ConsentRecord | None = None  # the newest event, if any
    needed: bool = False  # the program needs consent for this lead kind

    @property
    def granted(self) -> bool:
        return self.state == ConsentState.GRANTED

    @property
    def label(self) -> str:
        return ConsentState(self.state).label


def consent_of(
    record: ConsentRecord | None, *, needed: bool, now: datetime | None = None
) -> CurrentConsent:
    """``CurrentConsent`` from the newest record (pure: no query)."""
    now = now or timezone.now()
    state = consent_state(
        needed=needed,
        event=record.event if record is not None else None,
        granted=bool(record and record.granted),
        expires_at=record.expires_at if record is not None else None,
        now=now,
    )
    if state != ConsentState.GRANTED:
        return CurrentConsent(state=state, record=record, needed=needed)
    return CurrentConsent(
        state=state,
        purposes=tuple(sorted(record.purposes)),
        channels=tuple(sorted(record.channels)),
        expires_at=record.expires_at,
        record=record,
        needed=needed,
    )


def consent_latest(referral) -> ConsentRecord | None:
    """The newest consent record of the referral (one indexed query), or None."""
    return ConsentRecord.objects.filter(referral=referral).order_by("-recorded_at", "-id").first()


def consent_current(referral, *, now: datetime | None = None) -> CurrentConsent:
    """The permission in force for the referral's lead now (or at ``now``)."""
    needed = consent_needed(consent_rules(referral), referral.lead_kind)
    return consent_of(consent_latest(referral), needed=needed, now=now)


def consent_history(referral) -> list[ConsentRecord]:
    """Every consent event of the referral, oldest first (the console's consent history)."""
    return list(
        ConsentRecord.objects.filter(referral=referral)
        .select_related("note")
        .order_by("recorded_at", "id")
    )


@dataclass(frozen=True)
class ConsentCheck:
    allowed: bool
    reason: str  # a stable code: "ok", "consent_withdrawn", "channel_not_consented", ...


def consent_permits(
    current: CurrentConsent, *, channel: str, purpose: str | None, rules: Consent | None
) -> ConsentCheck:
    """Does the permission in force cover contacting the lead on ``channel`` for ``purpose``
    (by default the program's first purpose)? Codes, never patient data."""
    if not current.needed:
        return ConsentCheck(True, "consent_not_required")
    if current.state == ConsentState.NOT_GRANTED:
        missing = current.record is None
        return ConsentCheck(False, "consent_missing" if missing else "consent_not_granted")
    if current.state == ConsentState.WITHDRAWN:
        return ConsentCheck(False, "consent_withdrawn")
    if current.state == ConsentState.EXPIRED:
        return ConsentCheck(False, "consent_expired")
    if channel not in current.channels:
        return ConsentCheck(False, "channel_not_consented")
    purpose = purpose or (next(iter(rules.purposes)) if rules is not None else None)
    if purpose not in current.purposes:
        return ConsentCheck(False, "purpose_not_consented")
    return ConsentCheck(True, "ok")
