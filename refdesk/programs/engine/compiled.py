"""Per-definition tables the engine reads on every decision, built once per definition.

A ``ProgramDefinition`` is frozen but not hashable (it holds dicts), so tables are cached by
``id(definition)``; each entry keeps the definition alive, so its id cannot be reused by another
object while the entry exists. The cache is a small LRU: a process decides against a handful of
program versions at a time (simulation adds one draft).

The tables also hold memo dicts for results that depend only on a few small keys (eligibility
by source/request type/lead kind, a checklist by its statuses). Results are immutable, so
sharing them between decisions is safe; each memo is capped so arbitrary input strings cannot
grow it without bound.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from refdesk.programs.engine.business_time import BusinessCalendar
from refdesk.programs.engine.facts import DERIVED_FACTS, TEXT_FACTS, answer_kinds
from refdesk.programs.engine.fastcond import (
    Cond2,
    Cond3,
    Pred,
    compile2,
    compile3,
    requirement_pred,
)
from refdesk.programs.engine.rules import describe
from refdesk.programs.schema import ChecklistItem, Marker, ProgramDefinition

CACHE_SIZE = 32
MEMO_LIMIT = 10_000


@dataclass(frozen=True)
class CompiledRoute:
    id: str
    position: int  # 1-based
    default: bool
    condition: dict[str, Any] | None
    queue: str
    flags: tuple[str, ...]
    also_notify: tuple[str, ...]
    checks: tuple[ChecklistItem, ...]
    check_tests: tuple[Cond3, ...]
    words: str  # the condition in words, for "why"
    test: Cond2 | None  # the compiled condition; None on the default route


@dataclass(frozen=True)
class CompiledAlert:
    id: str
    condition: dict[str, Any]
    flags: tuple[str, ...]
    also_notify: tuple[str, ...]
    words: str
    test: Cond2


@dataclass(frozen=True)
class SourceRule:
    request_types: frozenset[str] | None  # None: all
    lead_kinds: frozenset[str]


@dataclass
class Compiled:
    definition: ProgramDefinition
    program: str
    calendar: BusinessCalendar
    term_lists: dict[str, list[str]]
    answer_kinds: dict[str, str]
    target_specialties: frozenset[str]
    content_categories: dict[str, str]
    request_lead_kinds: dict[str, str]
    medical_review_types: frozenset[str]
    lead_kinds: frozenset[str]
    sources: dict[str, SourceRule]
    checklists: dict[str, tuple[ChecklistItem, ...]]
    checklist_tests: dict[str, tuple[Cond3, ...]]
    markers: tuple[Marker, ...] | None
    marker_tests: tuple[tuple[str, Pred], ...]  # (answer id, requirement) per marker
    sla_amount: dt.timedelta
    sla_days: int  # whole business days, 0 when the SLA is in hours
    route_facts: tuple[str, ...] | None  # what route conditions read; None: answers too
    text_facts: tuple[str, ...]  # the text facts any condition reads, and the three always used
    derived_facts: frozenset[str]  # the derived facts any condition reads
    sla_promise: str  # "2 business days"
    calendar_words: str
    routes: tuple[CompiledRoute, ...]
    default_route: CompiledRoute  # the route marked default (validated to be last)
    alerts: tuple[CompiledAlert, ...]
    memo: dict[str, dict[Any, Any]] = field(default_factory=dict)

    def remember(self, table: str, key: Any, build, *args) -> Any:
        """Memoised ``build(*args)`` for ``key`` in ``table`` (computed but not kept when full)."""
        memo = self.memo.get(table)
        if memo is None:
            memo = self.memo[table] = {}
        value = memo.get(key)
        if value is None:
            value = build(*args)
            if len(memo) < MEMO_LIMIT:
                memo[key] = value
        return value


_cache: OrderedDict[int, Compiled] = OrderedDict()
_lock = threading.Lock()


def compiled(definition: ProgramDefinition) -> Compiled:
    key = id(definition)
    entry = _cache.get(key)
    if entry is not None and entry.definition is definition:
        return entry
    entry = _compile(definition)
    with _lock:
        _cache[key] = entry
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return entry


def _compile(d: ProgramDefinition) -> Compiled:
    hours = d.business_hours
    terms = {"adverse_event_terms": list(d.adverse_event_terms)}
    routes = tuple(
        CompiledRoute(
            id=route.id,
            position=i,
            default=route.default,
            condition=route.when,
            queue=route.then.queue,
            flags=tuple(route.then.flags),
            also_notify=tuple(route.then.also_notify),
            checks=tuple(route.then.checks),
            check_tests=tuple(compile3(item.when, terms) for item in route.then.checks),
            words=describe(route.when) if route.when else "the default route",
            test=compile2(route.when, terms) if route.when is not None else None,
        )
        for i, route in enumerate(d.routes, start=1)
    )
    alerts = tuple(
        CompiledAlert(
            id=alert.id,
            condition=alert.when,
            flags=tuple(alert.flags),
            also_notify=tuple(alert.also_notify),
            words=describe(alert.when),
            test=compile2(alert.when, terms),
        )
        for alert in d.alerts
    )
    all_kinds = frozenset(d.lead_kinds)
    sources = {
        source_id: SourceRule(
            request_types=None
            if source.request_types == "all"
            else frozenset(source.request_types),
            lead_kinds=frozenset(source.lead_kinds) if source.lead_kinds else all_kinds,
        )
        for source_id, source in d.sources.items()
    }
    calendar = BusinessCalendar.build(
        timezone=d.business_timezone(),
        days=hours.days,
        start=hours.start,
        end=hours.end,
        holidays=hours.holidays,
    )
    days, hours_ = d.sla.first_response.business_days, d.sla.first_response.business_hours
    if days:
        amount, promise = calendar.day_length * days, f"{days} business day{_s(days)}"
    else:
        amount, promise = dt.timedelta(hours=hours_ or 0), f"{hours_} business hour{_s(hours_)}"
    markers = d.prescreen.markers if d.prescreen is not None else None
    read = _facts_read(d)
    return Compiled(
        definition=d,
        program=d.id,
        calendar=calendar,
        term_lists=terms,
        answer_kinds=answer_kinds(d),
        target_specialties=frozenset(d.target.specialties),
        content_categories={
            type_id: rt.content_category
            for type_id, rt in d.request_types.items()
            if rt.content_category
        },
        request_lead_kinds={type_id: rt.lead_kind for type_id, rt in d.request_types.items()},
        medical_review_types=frozenset(
            type_id for type_id, rt in d.request_types.items() if rt.requires_medical_review
        ),
        lead_kinds=all_kinds,
        sources=sources,
        checklists=dict(d.qualification),
        checklist_tests={
            kind: tuple(compile3(item.when, terms) for item in items)
            for kind, items in d.qualification.items()
        },
        markers=markers,
        marker_tests=tuple((m.answer, requirement_pred(m.require, terms)) for m in (markers or ())),
        sla_amount=amount,
        sla_days=days or 0,
        route_facts=_route_facts(d),
        text_facts=tuple(name for name in TEXT_FACTS if name in read or name in _ALWAYS),
        derived_facts=DERIVED_FACTS & read,
        sla_promise=promise,
        calendar_words=calendar.describe(),
        routes=routes,
        default_route=next((r for r in routes if r.default), routes[-1]),
        alerts=alerts,
    )


def _s(n: int | None) -> str:
    return "" if n == 1 else "s"


_ALWAYS = frozenset({"request_type", "source", "lead_kind"})  # eligibility reads them


def _names(condition, names: set[str]) -> set[str]:
    """Every fact name a condition reads (combinators walked)."""
    if not isinstance(condition, dict):
        return names
    for key, value in condition.items():
        if key in ("all", "any"):
            for part in value if isinstance(value, list | tuple) else ():
                _names(part, names)
        elif key == "not":
            _names(value, names)
        else:
            names.add(key)
    return names


def _facts_read(d: ProgramDefinition) -> frozenset[str]:
    names: set[str] = set()
    conditions = [r.when for r in d.routes] + [a.when for a in d.alerts]
    conditions += [item.when for r in d.routes for item in r.then.checks]
    conditions += [item.when for items in d.qualification.values() for item in items]
    for condition in conditions:
        _names(condition, names)
    return frozenset(names)


def _route_facts(d: ProgramDefinition) -> tuple[str, ...] | None:
    """The facts route conditions read, when none is an answer (then the chosen route is a
    function of these values alone and can be memoised); None otherwise."""
    names: set[str] = set()
    for route in d.routes:
        _names(route.when, names)
    if any(name.startswith("answers.") for name in names):
        return None
    return tuple(sorted(names))
