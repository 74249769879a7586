"""What a referral still lacks, decided from the program alone: pure functions, no Django.

Two questions, one vocabulary of item names (``lead.email``, ``answers.ecog``, never values):
- ``missing_items``: the intake items a submission must carry and does not (required fields,
  fields required by a condition, the contact detail for the preferred channel);
- ``failed_check_items``: the items a referrer can supply to pass a route's failed checks (a
  meeting request without a valid NPI lacks ``lead.npi``).
Both feed ``needs_info``: the referral waits, and the referrer is asked for exactly these items.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from refdesk.programs.conditions import evaluate
from refdesk.programs.engine import business_time as bt
from refdesk.programs.engine.compiled import compiled
from refdesk.programs.engine.types import Decision
from refdesk.programs.schema import ProgramDefinition

# Facts a check may test, and the intake item that supplies each.
FACT_ITEMS = {
    "target_specialty": "lead.specialty",
    "specialty": "lead.specialty",
    "npi_check": "lead.npi",
    "preferred_contact": "lead.preferred_contact",
    "country": "lead.country",
    "region": "lead.region",
}
# The lead field that carries each contact channel's detail.
CHANNEL_FIELDS = {"phone": "phone", "sms": "phone", "email": "email"}


def missing_items(
    definition: ProgramDefinition,
    *,
    facts: Mapping[str, Any],
    lead: Collection[str],
    answers: Collection[str],
) -> list[str]:
    """The items a submission lacks, sorted: ``lead.<field>`` and ``answers.<name>``.

    ``facts`` is what conditions read (request type, source, lead kind, preferred contact,
    country, specialty, answers); ``lead`` and ``answers`` name the items the submission has.
    """
    missing: set[str] = set()
    for name, spec in definition.intake.lead_fields.items():
        if name not in lead and _needed(spec, facts):
            missing.add(f"lead.{name}")
    detail = CHANNEL_FIELDS.get(str(facts.get("preferred_contact") or ""))
    if detail is not None and detail not in lead:
        missing.add(f"lead.{detail}")
    for name, spec in definition.intake.answers.items():
        if name not in answers and _needed(spec, facts):
            missing.add(f"answers.{name}")
    return sorted(missing)


def _needed(spec, facts: Mapping[str, Any]) -> bool:
    return bool(
        spec.required or (spec.required_when is not None and evaluate(spec.required_when, facts))
    )


def failed_check_items(definition: ProgramDefinition, decision: Decision) -> list[str]:
    """Intake items a referrer can supply to pass the decided route's failed checks; a check
    that tests nothing a referrer supplies is named ``check.<id>``."""
    failed = {check.id for check in decision.route.checks if check.status != "met"}
    route = next((r for r in definition.routes if r.id == decision.route.rule_id), None)
    items: set[str] = set()
    for check in route.then.checks if route else ():
        if check.id in failed:
            found = set(_condition_items(check.when))
            items |= found or {f"check.{check.id}"}
    return sorted(items)


def _condition_items(condition) -> Iterable[str]:
    for key, value in (condition or {}).items():
        if key in ("all", "any"):
            for part in value:
                yield from _condition_items(part)
        elif key == "not":
            yield from _condition_items(value)
        elif key.startswith("answers."):
            yield key
        elif key in FACT_ITEMS:
            yield FACT_ITEMS[key]


def business_time_elapsed(
    definition: ProgramDefinition, start: dt.datetime, end: dt.datetime
) -> dt.timedelta:
    """How much business time (the program's calendar) passed from ``start`` to ``end``: how
    long a first-response clock stood still (what ``decide(sla_paused=...)`` adds to the SLA),
    and how long the first response took (what reports measure)."""
    return bt.business_time_between(start, end, calendar=compiled(definition).calendar)
