"""The engine's view of a stored referral: ``referral_facts`` and a keyed digest of it.

Lead data and answers are decrypted in memory only, to build ``Facts``; they are never stored
in clear. The digest is keyed (HMAC) so a stored digest cannot be matched against guessed
patient data, yet a later replay can tell whether the inputs changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings

from refdesk.consent.models import ConsentRecord
from refdesk.intake.models import Referral
from refdesk.programs.engine.types import ConsentState, Facts
from refdesk.programs.schema import ProgramDefinition


def consent_state(
    record: ConsentRecord | None, *, definition: ProgramDefinition | None, lead_kind: str
) -> ConsentState:
    """granted / withdrawn / not_granted from the latest record; without a record, consent is
    ``not_required`` unless the program asks it for this lead kind (then ``not_granted``)."""
    if record is None:
        rules = definition.consent if definition is not None else None
        if rules is not None and lead_kind in rules.for_lead_kinds:
            return "not_granted"
        return "not_required"
    if record.withdrawn_at is not None:
        return "withdrawn"
    return "granted" if record.granted else "not_granted"


def latest_consent(referral: Referral) -> ConsentRecord | None:
    """The record that speaks for the referral now (withdrawal stamps the record itself)."""
    if hasattr(referral, "consent_at_intake"):  # just submitted: no later record can exist
        return referral.consent_at_intake
    return ConsentRecord.objects.filter(referral=referral).order_by("-recorded_at", "-id").first()


def referral_facts(
    referral: Referral,
    *,
    definition: ProgramDefinition | None = None,
    consent: ConsentRecord | None = None,
    consent_known: bool = False,
) -> Facts:
    """Facts for the engine from a stored referral.

    ``consent``/``consent_known`` let a caller that already holds the latest consent record
    (or knows there is none) save the query.
    """
    if not consent_known:
        consent = latest_consent(referral)
    lead = referral.lead or {}
    state = consent_state(consent, definition=definition, lead_kind=referral.lead_kind)
    channels = tuple(sorted(consent.channels)) if consent is not None and state == "granted" else ()
    return Facts(
        received_at=referral.received_at,
        lead_kind=referral.lead_kind,
        source=referral.source.slug,
        request_type=referral.request_type,
        therapy_area=referral.therapy_area or "",
        answers=dict(referral.answers or {}),
        consent=state,
        consent_channels=channels,
        country=referral.country or str(lead.get("country") or ""),
        region=str(lead.get("region") or ""),
        referrer=referral.referrer.code,
        specialty=str(lead.get("specialty") or ""),
        npi=str(lead.get("npi") or ""),
        preferred_contact=referral.preferred_contact or str(lead.get("preferred_contact") or ""),
    )


def _digest_key() -> bytes:
    # Derived, not the blind-index key itself: a digest here never equals a blind index.
    return hmac.new(
        settings.BLIND_INDEX_KEY.encode(), b"refdesk.routing.facts", hashlib.sha256
    ).digest()


def facts_digest(facts: Facts) -> str:
    """Keyed SHA-256 of the facts in canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps(facts.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(_digest_key(), canonical.encode(), hashlib.sha256).hexdigest()
