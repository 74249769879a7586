"""What a simulation found: changes grouped by kind and direction, with example references."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

EXAMPLES = 3


@dataclass
class ChangeGroup:
    """Referrals whose decision changes the same way, e.g. queue A (rule x) -> queue B (rule y)."""

    kind: str  # "route", "qualified", "prescreen", "flag_added", "flag_removed"
    before: Any
    after: Any
    count: int = 0
    examples: list[str] = field(default_factory=list)  # referral references, never lead data

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "from": self.before,
            "to": self.after,
            "count": self.count,
            "examples": self.examples,
        }


@dataclass
class Tally:
    """Counts and change groups of some replayed referrals (one chunk, or all of them)."""

    replayed: int = 0  # referrals with a stored decision, decided again by the draft
    changed: int = 0  # of those, how many would come out differently in any way
    not_routed: int = 0  # no stored engine decision yet (e.g. still incomplete): nothing to compare
    groups: dict[tuple, ChangeGroup] = field(default_factory=dict)

    def record(self, kind: str, before: Any, after: Any, reference: str) -> None:
        key = (kind, json.dumps(before, sort_keys=True), json.dumps(after, sort_keys=True))
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = ChangeGroup(kind, before, after)
        group.count += 1
        if len(group.examples) < EXAMPLES:
            group.examples.append(reference)

    def merge(self, other: Tally) -> None:
        """Add a later chunk's tally (examples stay the earliest ones)."""
        self.replayed += other.replayed
        self.changed += other.changed
        self.not_routed += other.not_routed
        for key, theirs in other.groups.items():
            ours = self.groups.get(key)
            if ours is None:
                self.groups[key] = theirs
            else:
                ours.count += theirs.count
                ours.examples += theirs.examples[: EXAMPLES - len(ours.examples)]


@dataclass
class SimulationReport(Tally):
    program: str = ""
    active_version: int | None = None
    draft_version: int = 1
    since: date | None = None
    skipped_duplicates: int = 0
    skipped_entered_in_error: int = 0

    def by_kind(self, *kinds: str) -> list[ChangeGroup]:
        found = [group for group in self.groups.values() if group.kind in kinds]
        return sorted(found, key=lambda group: (-group.count, group.kind, str(group.before)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "active_version": self.active_version,
            "draft_version": self.draft_version,
            "since": self.since.isoformat() if self.since else None,
            "replayed": self.replayed,
            "changed": self.changed,
            "skipped": {
                "duplicates": self.skipped_duplicates,
                "entered_in_error": self.skipped_entered_in_error,
                "not_routed": self.not_routed,
            },
            "routes": [group.to_dict() for group in self.by_kind("route")],
            "outcomes": [group.to_dict() for group in self.by_kind("qualified", "prescreen")],
            "flags": [group.to_dict() for group in self.by_kind("flag_added", "flag_removed")],
        }


def compare(tally: Tally, reference: str, stored, decision) -> None:
    """Record how the draft's ``decision`` differs from the ``stored`` ``StoredDecision``."""
    route = decision.route
    changed = False
    if (stored.queue, stored.rule_id) != (route.queue, route.rule_id):
        before = {"queue": stored.queue, "rule": stored.rule_id}
        tally.record("route", before, {"queue": route.queue, "rule": route.rule_id}, reference)
        changed = True
    if stored.qualified != decision.qualified:
        tally.record("qualified", stored.qualified, decision.qualified, reference)
        changed = True
    prescreen = decision.prescreen.outcome if decision.prescreen is not None else None
    if stored.prescreen != prescreen:
        tally.record("prescreen", stored.prescreen, prescreen, reference)
        changed = True
    if stored.flags != route.flags:
        flags = set(route.flags)
        for flag in sorted(flags.difference(stored.flags)):
            tally.record("flag_added", None, flag, reference)
        for flag in sorted(set(stored.flags) - flags):
            tally.record("flag_removed", flag, None, reference)
        changed = True
    tally.replayed += 1
    tally.changed += changed


# --- the table for people -------------------------------------------------------------------


def render_table(report: SimulationReport) -> str:
    since = f" received since {report.since.isoformat()}" if report.since else ""
    lines = [
        f"{report.program}: draft as version {report.draft_version} "
        f"(active: {report.active_version or 'none'})",
        f"replayed {report.replayed} decision(s){since}; {report.changed} would change",
        f"skipped: {report.skipped_duplicates} duplicate(s), "
        f"{report.skipped_entered_in_error} entered in error, "
        f"{report.not_routed} not routed yet",
    ]
    sections = [
        ("ROUTE (queue (rule))", report.by_kind("route")),
        ("OUTCOME", report.by_kind("qualified", "prescreen")),
        ("FLAGS", report.by_kind("flag_added", "flag_removed")),
    ]
    for title, groups in sections:
        if not groups:
            continue
        rows = [(_group_label(group), group) for group in groups]
        width = max(len(title), *(len(label) for label, _ in rows))
        lines += ["", f"{title:<{width}}  {'COUNT':>7}  EXAMPLES"]
        for label, group in rows:
            lines.append(f"{label:<{width}}  {group.count:>7}  {', '.join(group.examples)}")
    return "\n".join(lines) + "\n"


def _route_label(side: dict[str, str]) -> str:
    return f"{side['queue'] or '(no queue)'} ({side['rule'] or 'manual'})"


def _value_label(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "unknown"}[value]
    return str(value)


def _group_label(group: ChangeGroup) -> str:
    if group.kind == "route":
        return f"{_route_label(group.before)} -> {_route_label(group.after)}"
    if group.kind == "flag_added":
        return f"+ {group.after}"
    if group.kind == "flag_removed":
        return f"- {group.before}"
    return f"{group.kind}: {_value_label(group.before)} -> {_value_label(group.after)}"
