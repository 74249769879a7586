"""The routing audit of a period, and the program versions in force during it.

Definitions:

- **initial decisions**: the engine's first routing of each referral, decided in the period;
  **default-route share** = those that fell through to the default route / all of them;
  **matches per rule**: initial decisions by the rule that matched;
- **rules that never matched**: routes of the versions in force in the period that no initial
  decision of the period matched (a rule that has gone idle, or one shadowed by another);
- **re-evaluations**: the engine again after new information; **re-routes**: a person moved
  the referral, counted by queue from -> to and by the rule of its initial decision (the rule
  people overrode). What people wrote stays in the referral's notes, never in a report;
- **versions in force**: the version active when the period began and every version applied
  during it, with what changed from one to the next — each one is marked on the report, so a
  figure that moved because a rule changed reads as such.
"""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, Subquery

from refdesk.programs.models import ProgramVersion
from refdesk.reports.aggregates import rate
from refdesk.reports.document import Column, Mark, Table
from refdesk.reports.scope import Scope
from refdesk.routing.choices import DecisionKind
from refdesk.routing.models import RoutingDecision


def _decisions(scope: Scope):
    return scope.related(RoutingDecision.objects.all(), "decided_at")


def rule_matches_table(scope: Scope) -> Table:
    initial = _decisions(scope).filter(kind=DecisionKind.INITIAL)
    matched = {
        (row["referral__program__slug"], row["rule_id"]): row
        for row in initial.order_by()
        .values("referral__program__slug", "rule_id")
        .annotate(n=Count("pk"), default=Count("pk", filter=Q(default_route=True)))
    }
    rows = []
    for program, version in versions_in_force(scope):
        for position, route in enumerate(version.definition.get("routes", []), start=1):
            key = (program.slug, route["id"])
            if any(r["program"] == program.slug and r["rule"] == route["id"] for r in rows):
                continue  # the same rule in an earlier version in force
            row = matched.pop(key, None)
            rows.append(
                {
                    "program": program.slug,
                    "rule": route["id"],
                    "position": str(position),
                    "count": row["n"] if row else 0,
                    "never": "never matched" if not row else "",
                }
            )
    for (program_slug, rule), row in sorted(matched.items()):  # rules of no version in force
        rows.append(
            {
                "program": program_slug,
                "rule": rule or "(none)",
                "position": "",
                "count": row["n"],
                "never": "",
            }
        )
    return Table(
        key="rule_matches",
        title="Initial routing by rule",
        columns=[
            Column("program", "Program", "text"),
            Column("rule", "Rule", "text"),
            Column("position", "Position", "text"),
            Column("count", "Referrals routed"),
            Column("never", "Idle", "text"),
        ],
        rows=rows,
        people=False,
        note="Rules of every version in force in the period; idle ones matched nothing.",
    )


def routing_summary_table(scope: Scope) -> Table:
    decisions = _decisions(scope)
    counted = decisions.aggregate(
        initial=Count("pk", filter=Q(kind=DecisionKind.INITIAL)),
        default=Count("pk", filter=Q(kind=DecisionKind.INITIAL, default_route=True)),
        re_evaluations=Count("pk", filter=Q(kind=DecisionKind.RE_EVALUATION)),
        reroutes=Count("pk", filter=Q(kind=DecisionKind.REROUTE)),
    )
    rows = [
        {"measure": "Initial decisions", "count": counted["initial"], "share": None},
        {
            "measure": "Fell to the default route",
            "count": counted["default"],
            "share": rate(counted["default"], counted["initial"]),
        },
        {"measure": "Re-evaluations", "count": counted["re_evaluations"], "share": None},
        {
            "measure": "Re-routed by a person",
            "count": counted["reroutes"],
            "share": rate(counted["reroutes"], counted["initial"]),
        },
    ]
    for row in rows:
        row["base"] = counted["initial"]
    return Table(
        key="routing_summary",
        title="Routing decisions",
        columns=[
            Column("measure", "Decisions", "text"),
            Column("count", "Count"),
            Column("share", "Share of initial decisions", "percent", base="count"),
        ],
        rows=rows,
        people=False,
        note="Decisions made in the period, whatever the referral's receipt.",
    )


def reroutes_table(scope: Scope) -> Table:
    initial_rule = RoutingDecision.objects.filter(
        referral=OuterRef("referral"), kind=DecisionKind.INITIAL
    ).values("rule_id")[:1]
    reroutes = (
        _decisions(scope)
        .filter(kind=DecisionKind.REROUTE)
        .annotate(rule=Subquery(initial_rule))
        .order_by()
        .values("rule", "previous_queue__slug", "queue__slug")
        .annotate(n=Count("pk"))
        .order_by("-n", "rule", "previous_queue__slug", "queue__slug")
    )
    rows = [
        {
            "rule": row["rule"] or "(no engine decision)",
            "before": row["previous_queue__slug"] or "(none)",
            "after": row["queue__slug"],
            "count": row["n"],
        }
        for row in reroutes
    ]
    return Table(
        key="reroutes",
        title="Re-routes by a person",
        columns=[
            Column("rule", "Rule that routed it first", "text"),
            Column("before", "From queue", "text"),
            Column("after", "To queue", "text"),
            Column("count", "Re-routes"),
        ],
        rows=rows,
        people=False,
        note="Why each one was moved is in the referral's notes, never in a report.",
    )


def versions_in_force(scope: Scope) -> list[tuple]:
    """[(program, version)] in force at any time in the period, oldest first per program."""
    result = []
    for program in scope.programs:
        start, end = scope.bounds(program)
        versions = list(
            ProgramVersion.objects.filter(program=program, applied_at__lt=end).order_by("-number")
        )
        chosen = [v for v in versions if v.applied_at >= start]
        before = [v for v in versions if v.applied_at < start]
        if before:
            chosen.append(before[0])
        result += [(program, version) for version in sorted(chosen, key=lambda v: v.number)]
    return result


def definition_changes(old: dict, new: dict) -> list[str]:
    """What changed from one version's definition to the next, in words (no values: a
    definition holds rules and texts, never patient data, but the summary stays short)."""
    changes: list[str] = []
    old_routes = {r["id"]: (i, r) for i, r in enumerate(old.get("routes", []))}
    new_routes = {r["id"]: (i, r) for i, r in enumerate(new.get("routes", []))}
    added = [rid for rid in new_routes if rid not in old_routes]
    removed = [rid for rid in old_routes if rid not in new_routes]
    changed = [
        rid for rid in new_routes if rid in old_routes and old_routes[rid][1] != new_routes[rid][1]
    ]
    moved = [
        rid
        for rid in new_routes
        if rid in old_routes and rid not in changed and old_routes[rid][0] != new_routes[rid][0]
    ]
    if added:
        changes.append("routing rules added: " + ", ".join(added))
    if removed:
        changes.append("routing rules removed: " + ", ".join(removed))
    if changed:
        changes.append("routing rules changed: " + ", ".join(changed))
    if moved:
        changes.append("routing rules reordered: " + ", ".join(moved))
    for key in sorted(set(old) | set(new)):
        if key in ("routes", "schema") or old.get(key) == new.get(key):
            continue
        changes.append(f"{key.replace('_', ' ')} changed")
    return changes or ["no change in content"]


def versions_table_and_marks(
    scope: Scope, *, counted: dict[int, int] | None = None
) -> tuple[Table, list[Mark]]:
    """The versions in force and their marks; ``counted``: referrals received under each
    version when the caller has them already (the rollups), else counted here."""
    rows = []
    marks = []
    previous: dict[int, ProgramVersion] = {}
    if counted is None:
        counted = {
            row["program_version"]: row["n"]
            for row in scope.referrals()
            .order_by()
            .values("program_version")
            .annotate(n=Count("pk"))
        }
    for program, version in versions_in_force(scope):
        start, _ = scope.bounds(program)
        earlier = previous.get(program.pk) or (
            ProgramVersion.objects.filter(program=program, number__lt=version.number)
            .order_by("-number")
            .first()
        )
        in_period = version.applied_at >= start
        what = (
            "; ".join(definition_changes(earlier.definition, version.definition))
            if earlier is not None
            else "first version"
        )
        rows.append(
            {
                "program": program.slug,
                "version": f"v{version.number}",
                "from": version.applied_at.date().isoformat(),
                "changes": what if in_period else "in force when the period began",
                "referrals": counted.get(version.pk, 0),
            }
        )
        if in_period:
            marks.append(
                Mark(
                    at=version.applied_at,
                    title=f"{program.name}: version {version.number} in force",
                    detail=what,
                    kind="rule_change",
                )
            )
        previous[program.pk] = version
    table = Table(
        key="versions",
        title="Program versions in force",
        columns=[
            Column("program", "Program", "text"),
            Column("version", "Version", "text"),
            Column("from", "Applied", "text"),
            Column("changes", "What changed", "text"),
            Column("referrals", "Referrals received under it"),
        ],
        rows=rows,
        people=False,
        note="Every referral keeps the version that handled it, so figures stay true.",
    )
    return table, marks
