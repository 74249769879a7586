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

from refdesk.consent.selectors import (
    CurrentConsent,
    consent_latest,
    consent_needed,
    consent_of,
)
from refdesk.intake.models import Referral
from refdesk.programs.engine.types import Facts
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition


def referral_facts(
    referral: Referral,
    *,
    definition: ProgramDefinition | None = None,
    consent: CurrentConsent | None = None,
) -> Facts:
    """Facts for the engine from a stored referral; ``consent`` saves its query when the caller
    holds it already (``consent_current``, the one reader of consent state)."""
    if definition is None:
        definition = version_definition(referral.program_version)
    if consent is None:
        consent = consent_of(
            consent_latest(referral),
            needed=consent_needed(definition.consent, referral.lead_kind),
        )
    lead = referral.lead or {}
    return Facts(
        received_at=referral.received_at,
        lead_kind=referral.lead_kind,
        source=referral.source.slug,
        request_type=referral.request_type,
        therapy_area=referral.therapy_area or "",
        answers=dict(referral.answers or {}),
        consent=consent.state,
        consent_channels=consent.channels,
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
