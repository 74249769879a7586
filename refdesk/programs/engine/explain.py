"""Building the explained parts of a decision from what ``decide`` found.

Each builder depends only on small hashable keys (ids, statuses), so ``decide`` memoises the
results per program definition. Sentences name only what the program defines (rule, marker,
item, request type, source, lead kind, queue ids and consent states); a value the program does
not define is described ("the source is not one of this program's sources"), never repeated.
"""

from __future__ import annotations

from collections.abc import Sequence

from refdesk.programs.engine.compiled import Compiled, CompiledRoute
from refdesk.programs.engine.rules import describe
from refdesk.programs.engine.types import CheckResult, PrescreenResult, RouteResult

Found = tuple[bool | None, tuple[str, ...]]  # a three-valued result and the facts it lacked


def _ids(items: Sequence[str]) -> str:
    return ", ".join(items)


# --- eligibility ------------------------------------------------------------------------------


def eligibility_result(c: Compiled, source: str, request_type: str, lead_kind: str):
    rule = c.sources.get(source)
    type_kind = c.request_lead_kinds.get(request_type)
    checks = (
        _source_check(c, source, rule),
        _request_type_check(source, request_type, rule, type_kind),
        _lead_kind_check(c, source, request_type, lead_kind, rule, type_kind),
    )
    eligible = all(check.status == "met" for check in checks)
    if eligible:
        words = (
            f"Eligible: source {source} may send request type {request_type} "
            f"for a {lead_kind} lead."
        )
    else:
        words = "Not eligible: " + "; ".join(c.reason for c in checks if c.status != "met") + "."
    return checks, eligible, words


def _source_check(c: Compiled, source: str, rule) -> CheckResult:
    label = "Source refers to this program"
    if rule is not None:
        return CheckResult("source_known", label, "met", f"source {source} is a program source")
    reason = (
        "no source given"
        if not source.strip()
        else f"the source is not one of this program's sources ({_ids(sorted(c.sources))})"
    )
    return CheckResult("source_known", label, "not_met", reason)


def _request_type_check(source: str, request_type: str, rule, type_kind) -> CheckResult:
    label = "Source may send this request type"
    if type_kind is None:
        reason = (
            "no request type given"
            if not request_type.strip()
            else "the request type is not defined in this program"
        )
        return CheckResult("request_type_allowed", label, "not_met", reason)
    if rule is None:
        reason = f"request type {request_type} cannot be checked without a known source"
        return CheckResult("request_type_allowed", label, "unknown", reason)
    if rule.request_types is None or request_type in rule.request_types:
        reason = f"source {source} may send request type {request_type}"
        return CheckResult("request_type_allowed", label, "met", reason)
    reason = (
        f"source {source} may not send request type {request_type} "
        f"(it may send: {_ids(sorted(rule.request_types))})"
    )
    return CheckResult("request_type_allowed", label, "not_met", reason)


def _lead_kind_check(
    c: Compiled, source: str, request_type: str, lead_kind: str, rule, type_kind
) -> CheckResult:
    label = "Lead kind fits the program, request type and source"
    if not lead_kind.strip():
        return CheckResult("lead_kind_fits", label, "not_met", "no lead kind given")
    if lead_kind not in c.lead_kinds:
        reason = f"the lead kind is not one this program accepts ({_ids(sorted(c.lead_kinds))})"
        return CheckResult("lead_kind_fits", label, "not_met", reason)
    if type_kind is not None and type_kind != lead_kind:
        reason = f"request type {request_type} is about {type_kind} leads, not {lead_kind} leads"
        return CheckResult("lead_kind_fits", label, "not_met", reason)
    if rule is not None and lead_kind not in rule.lead_kinds:
        reason = f"source {source} may not refer {lead_kind} leads"
        return CheckResult("lead_kind_fits", label, "not_met", reason)
    if type_kind is None or rule is None:
        reason = f"{lead_kind} leads cannot be checked against an undefined request type or source"
        return CheckResult("lead_kind_fits", label, "unknown", reason)
    reason = f"{lead_kind} leads fit request type {request_type} and source {source}"
    return CheckResult("lead_kind_fits", label, "met", reason)


# --- prescreen --------------------------------------------------------------------------------

_MARKER_STATUS = {"met": "met", "failed": "not_met", "missing": "unknown", "pending": "unknown"}


def prescreen_result(c: Compiled, statuses: tuple[str, ...]):
    markers = []
    for marker, status in zip(c.markers, statuses, strict=True):
        answer = f"answers.{marker.answer}"
        rule = describe({answer: marker.require})
        reason = {
            "met": f"met: {rule}",
            "failed": f"not met: requires {rule}",
            "missing": f"unknown: {answer} is not given",
            "pending": f"unknown: records requested for {answer}",
        }[status]
        markers.append(CheckResult(marker.id, marker.label, _MARKER_STATUS[status], reason))
    by_status = {
        s: tuple(m.id for m, st in zip(c.markers, statuses, strict=True) if st == s)
        for s in ("failed", "missing", "pending")
    }
    if by_status["failed"]:
        outcome, reasons = "not_eligible", by_status["failed"]
        words = f"Prescreen not_eligible: failed markers {_ids(reasons)}."
    elif by_status["missing"]:
        outcome, reasons = "incomplete", by_status["missing"]
        words = f"Prescreen incomplete: missing markers {_ids(reasons)}."
    elif by_status["pending"]:
        outcome, reasons = "pending", by_status["pending"]
        words = f"Prescreen pending: records requested for markers {_ids(reasons)}."
    else:
        outcome, reasons = "eligible", ()
        words = f"Prescreen eligible: all {len(markers)} markers met."
    return PrescreenResult(
        outcome=outcome, reasons=reasons, markers=tuple(markers), why=words
    ), words


# --- qualification ----------------------------------------------------------------------------


def item_result(item, found: Found) -> CheckResult:
    outcome, missing = found
    rule = describe(item.when)
    if outcome is True:
        return CheckResult(item.id, item.label, "met", f"met: {rule}")
    if outcome is False:
        return CheckResult(item.id, item.label, "not_met", f"not met: requires {rule}")
    lacking = _ids(missing) if missing else "a fact"
    return CheckResult(
        item.id, item.label, "unknown", f"unknown: {lacking} not known yet; requires {rule}"
    )


def checklist_result(c: Compiled, lead_kind: str | None, found: Sequence[Found]):
    items = c.checklists.get(lead_kind, ()) if lead_kind is not None else ()
    if not items:
        return (), None, "No qualification checklist applies to this lead kind."
    checks = tuple(item_result(item, f) for item, f in zip(items, found, strict=True))
    groups = {
        status: [check.id for check in checks if check.status == status]
        for status in ("met", "not_met", "unknown")
    }
    where = f"{lead_kind} checklist"
    if groups["not_met"]:
        qualified, head = False, f"Not qualified ({where})"
    elif groups["unknown"]:
        qualified, head = None, f"Qualification unknown ({where})"
    else:
        return checks, True, f"Qualified: all {len(checks)} items of the {where} are met."
    parts = [
        f"{label}: {_ids(groups[status])}"
        for status, label in (("not_met", "not met"), ("unknown", "unknown"), ("met", "met"))
        if groups[status]
    ]
    return checks, qualified, f"{head}: {'; '.join(parts)}."


# --- route ------------------------------------------------------------------------------------

_FALLTHROUGH = {
    "request_type": "the request type is not defined in this program, so no rule applies",
    "source": "the source is not one of this program's sources, so no rule applies",
}


def route_result(
    c: Compiled,
    chosen: CompiledRoute,
    version,
    fallthrough: str | None,
    fired: tuple[int, ...],
    checks_found: tuple[Found, ...],
    review_type: str | None,
):
    if fallthrough is not None:
        reason = _FALLTHROUGH[fallthrough]
    elif chosen.default:
        reason = "no other rule matched (the default route)"
    else:
        reason = chosen.words
    why = (
        f"routed by rule {chosen.id} ({chosen.position} of {len(c.routes)}) "
        f"of version {version}: {reason}"
    )
    origins: dict[str, list[str]] = {}
    for flag in chosen.flags:
        origins.setdefault(flag, []).append(f"rule {chosen.id}")
    if review_type is not None:
        origins.setdefault("medical_review_required", []).append(
            f"request type {review_type} requires medical review"
        )
    alerts = [c.alerts[i] for i in fired]
    notify = set(chosen.also_notify)
    for alert in alerts:
        for flag in alert.flags:
            origins.setdefault(flag, []).append(f"alert {alert.id}")
        notify.update(alert.also_notify)
    notify.discard(chosen.queue)
    pairs = zip(chosen.checks, checks_found, strict=True)
    checks = tuple(item_result(item, found) for item, found in pairs)
    result = RouteResult(
        rule_id=chosen.id,
        position=chosen.position,
        default=chosen.default or fallthrough is not None,
        queue=chosen.queue,
        flags=tuple(sorted(origins)),
        also_notify=tuple(sorted(notify)),
        alerts=tuple(alert.id for alert in alerts),
        checks=checks,
        why=why,
    )
    words = [f"Routed to queue {chosen.queue}: {why}."]
    if origins:
        words.append(
            "Flags: "
            + "; ".join(f"{flag} ({', '.join(origins[flag])})" for flag in sorted(origins))
            + "."
        )
    for alert in alerts:
        copies = f"; copy to {_ids(alert.also_notify)}" if alert.also_notify else ""
        words.append(f"Alert {alert.id} raised: {alert.words}{copies}.")
    if checks:
        listed = ", ".join(f"{check.id} {check.status.replace('_', ' ')}" for check in checks)
        words.append(f"Extra validation for rule {chosen.id}: {listed}.")
    return result, tuple(words)
