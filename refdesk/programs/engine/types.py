"""The engine's inputs and outputs. Plain frozen dataclasses: easy to store, compare and replay."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal


def plain(value: Any) -> Any:
    """``dataclasses.asdict`` without its deep copies: dataclasses become dicts, lists and tuples
    keep their type, and leaf values (str, int, datetime: all immutable here) are shared. Runs
    on every routing decision (intake's hot path), where asdict's copying cost more than the
    decision itself."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


ConsentState = Literal["granted", "not_granted", "withdrawn", "expired", "not_required"]
CheckStatus = Literal["met", "not_met", "unknown"]


@dataclass(frozen=True)
class Facts:
    """What the engine knows about one referral at decision time.

    Built by the routing service from a stored referral (lead data decrypted in memory only);
    never stored in clear. ``answers`` holds the typed intake answers, "records_requested" where
    the referrer said so.
    """

    received_at: datetime  # aware; the SLA clock starts here
    lead_kind: str
    source: str
    request_type: str
    therapy_area: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    consent: ConsentState = "not_required"
    consent_channels: tuple[str, ...] = ()
    country: str = ""
    region: str = ""
    referrer: str = ""  # the referral code
    specialty: str = ""
    npi: str = ""
    preferred_contact: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = plain(self)
        data["received_at"] = self.received_at.isoformat()
        data["consent_channels"] = list(self.consent_channels)
        return data


@dataclass(frozen=True)
class CheckResult:
    """One checklist / eligibility / validation item and why it came out so."""

    id: str
    label: str
    status: CheckStatus
    reason: str  # e.g. "specialty 'cardiology' is not in target specialties"


@dataclass(frozen=True)
class PrescreenResult:
    outcome: Literal["eligible", "not_eligible", "pending", "incomplete"]
    reasons: tuple[str, ...]  # failed markers (not_eligible), missing (incomplete), pending ones
    markers: tuple[CheckResult, ...]
    # The explanation's sentence about it; it names markers, which are facts about the lead's
    # health, so roles that see the lead masked get the outcome without it.
    why: str = ""


@dataclass(frozen=True)
class RouteResult:
    rule_id: str
    position: int  # 1-based position in routes; the default route has the last position
    default: bool  # fell through to the default route
    queue: str
    flags: tuple[str, ...]  # sorted; from the route, request type and alerts
    also_notify: tuple[str, ...]  # sorted queue ids (route + alerts)
    alerts: tuple[str, ...]  # ids of alerts that fired
    checks: tuple[CheckResult, ...]  # the route's extra-validation checks, evaluated
    why: str  # "routed by rule clinical-question (2 of 7) of version 3: request_type is ..."


@dataclass(frozen=True)
class Decision:
    """Everything the engine concluded about one referral, each part explained."""

    program: str
    version: int
    eligibility: tuple[CheckResult, ...]  # may this source/referrer send this request/lead kind
    eligible: bool
    checklist: tuple[CheckResult, ...]  # qualification checklist for the lead kind
    qualified: bool | None  # True all met, False any not met, None any unknown (none not met)
    prescreen: PrescreenResult | None  # trial programs only
    route: RouteResult
    first_response_due: datetime  # aware UTC, business time of the owning team
    explanation: tuple[str, ...]  # human sentences, no patient values

    def to_dict(self) -> dict[str, Any]:
        data = plain(self)
        data["first_response_due"] = self.first_response_due.isoformat()
        return data
