"""``decide()``: facts + a program definition -> an explained ``Decision``.

1. Build the fact mapping (typed answers, derived facts) from ``Facts``.
2. Eligibility: the source belongs to the program, may send the request type, and the lead kind
   fits the request type, the program and the source.
3. Prescreen (programs with markers): its outcome becomes the ``prescreen_outcome`` fact.
4. Qualification: the checklist for the lead kind, each item met, not met or unknown.
5. Route: the first route whose condition holds, else the default; an undefined request type
   or source goes straight to the default. Alerts add flags and copies on top; request types
   that require medical review add ``medical_review_required``; extra-validation checks are
   evaluated.
6. First response due: the SLA in business time of the program's calendar.

Pure and total: any ``Facts`` give a ``Decision``. Explanations name rules, markers, request
types, queues and consent states, never values from the referral; values that are not defined
in the program (an unknown source, say) are not repeated either.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from refdesk.programs.engine import business_time as bt
from refdesk.programs.engine.compiled import Compiled, CompiledRoute, compiled
from refdesk.programs.engine.explain import (
    checklist_result,
    eligibility_result,
    prescreen_result,
    route_result,
)
from refdesk.programs.engine.facts import RECORDS_REQUESTED, build_mapping
from refdesk.programs.engine.rules import is_absent
from refdesk.programs.engine.types import Decision, Facts
from refdesk.programs.schema import ProgramDefinition

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def decide(
    definition: ProgramDefinition,
    facts: Facts,
    *,
    version: int,
    sla_paused: dt.timedelta = dt.timedelta(0),
) -> Decision:
    """The engine's explained decision for one referral under one program version.

    ``sla_paused`` is the business time the first-response clock stood still while the
    referrer owed information: the first response is due that much later.
    """
    c = compiled(definition)
    version = version if isinstance(version, int) else str(version)
    mapping = build_mapping(
        facts,
        kinds=c.answer_kinds,
        target_specialties=c.target_specialties,
        content_categories=c.content_categories,
        text_facts=c.text_facts,
        derived=c.derived_facts,
    )
    source, request_type, lead_kind = (
        mapping["source"],
        mapping["request_type"],
        mapping["lead_kind"],
    )
    eligibility, eligible, eligibility_words = c.remember(
        "eligibility",
        (source, request_type, lead_kind),
        eligibility_result,
        c,
        source,
        request_type,
        lead_kind,
    )
    explanation = [eligibility_words]

    prescreen = None
    if c.markers is not None:
        statuses = _marker_statuses(c, mapping["answers"])
        prescreen, words = c.remember("prescreen", statuses, prescreen_result, c, statuses)
        mapping["prescreen_outcome"] = prescreen.outcome
        explanation.append(words)

    checklist, qualified, words = _qualification(c, mapping, lead_kind)
    explanation.append(words)

    route, words = _route(c, mapping, version)
    explanation.extend(words)

    due, words = _first_response_due(c, getattr(facts, "received_at", None), sla_paused)
    explanation.append(words)

    return Decision(
        program=c.program,
        version=version,
        eligibility=eligibility,
        eligible=eligible,
        checklist=checklist,
        qualified=qualified,
        prescreen=prescreen,
        route=route,
        first_response_due=due,
        explanation=tuple(explanation),
    )


def _marker_statuses(c: Compiled, answers: dict[str, Any]) -> tuple[str, ...]:
    """Per marker: met, failed, missing or pending."""
    statuses = []
    for answer, test in c.marker_tests:
        value = answers.get(answer)
        if is_absent(value):
            statuses.append("missing")
        elif value == RECORDS_REQUESTED:
            statuses.append("pending")
        else:
            statuses.append("met" if test(value) else "failed")
    return tuple(statuses)


_UNDECIDED_PRESCREEN = frozenset({"prescreen_outcome"})


def _qualification(c: Compiled, mapping: dict[str, Any], lead_kind: str):
    tests = c.checklist_tests.get(lead_kind, ())
    # A prescreen still pending or incomplete may yet turn eligible: items it fails are unknown.
    undecided = (
        _UNDECIDED_PRESCREEN
        if mapping["prescreen_outcome"] in ("pending", "incomplete")
        else frozenset()
    )
    results = tuple(_found(test, mapping, undecided) for test in tests)
    key = (lead_kind if lead_kind in c.checklists else None, results)
    return c.remember("checklist", key, checklist_result, c, key[0], results)


def _found(test, mapping, undecided=frozenset()) -> tuple[bool | None, tuple[str, ...]]:
    """A three-valued result and the absent facts that left it unknown."""
    missing: list[str] = []
    outcome = test(mapping, undecided, missing)
    return outcome, tuple(missing)


def _route(c: Compiled, mapping: dict[str, Any], version: int | str):
    request_type, source = mapping["request_type"], mapping["source"]
    fallthrough = None
    if request_type not in c.request_lead_kinds:
        fallthrough = "request_type"
    elif source not in c.sources:
        fallthrough = "source"
    if fallthrough is not None:
        chosen = c.default_route
    elif c.route_facts is None:
        chosen = _first_match(c, mapping)
    else:
        values = tuple(mapping[name] for name in c.route_facts)
        chosen = c.remember("first_match", values, _first_match, c, mapping)
    fired = tuple(i for i, alert in enumerate(c.alerts) if alert.test(mapping))
    checks = tuple(_found(test, mapping) for test in chosen.check_tests)
    review = request_type in c.medical_review_types
    key = (version, chosen.position, fallthrough, fired, checks, request_type if review else None)
    return c.remember(
        "route", key, route_result, c, chosen, version, fallthrough, fired, checks, key[-1]
    )


def _first_match(c: Compiled, mapping: dict[str, Any]) -> CompiledRoute:
    for route in c.routes:
        if route.test is not None and route.test(mapping):
            return route
    return c.default_route


def _first_response_due(
    c: Compiled, received_at: Any, paused: dt.timedelta = dt.timedelta(0)
) -> tuple[dt.datetime, str]:
    calendar = c.calendar
    if not isinstance(received_at, dt.datetime):
        return _EPOCH, "No first-response time: the time of receipt is unknown."
    paused = paused if isinstance(paused, dt.timedelta) and paused > dt.timedelta(0) else None
    try:
        local = bt.to_local(received_at, calendar)
        start = bt.business_instant(local, calendar)
        if c.sla_days and paused is None:
            due_local = bt.add_whole_days(start, c.sla_days, calendar)
        else:
            due_local = bt.add_business_local(
                start, c.sla_amount + (paused or dt.timedelta(0)), calendar
            )
        due = bt.to_utc(due_local, calendar)
    except (OverflowError, ValueError):
        return _clamped_utc(received_at), (
            "No first-response time: the time of receipt is outside the supported calendar."
        )
    counted = "receipt" if start == local else "the next business opening"
    if paused is not None:
        counted += (
            f", plus {_duration_words(paused)} of business time paused while the referrer "
            "owed information"
        )
    return due, (
        f"First response due {due_local.isoformat(' ', 'minutes')} local time: {c.sla_promise} "
        f"in business hours ({c.calendar_words}), counted from {counted}."
    )


def _duration_words(amount: dt.timedelta) -> str:
    minutes = int(amount.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"


def _clamped_utc(instant: dt.datetime) -> dt.datetime:
    try:
        if instant.tzinfo is None:
            return instant.replace(tzinfo=dt.UTC)
        return instant.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        if instant.year > 1970:
            return dt.datetime.max.replace(tzinfo=dt.UTC)
        return dt.datetime.min.replace(tzinfo=dt.UTC)
