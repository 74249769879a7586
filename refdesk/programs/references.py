"""Whole-program checks run after the structure is valid: every reference resolves, every
condition uses known facts with fitting operators, and routing is unambiguous.

Each check reports its own ``Issue`` at the exact path, so one run lists every problem.
"""

from __future__ import annotations

from collections.abc import Iterable

from refdesk.programs.conditions import FactType, check_condition, check_requirement
from refdesk.programs.issues import Issue, Loc, one_of
from refdesk.programs.outreach_checks import check_outreach
from refdesk.programs.schema import ChecklistItem, ProgramDefinition
from refdesk.programs.schema_intake import FieldSpec

CONSENT_STATES = ("granted", "not_granted", "withdrawn", "expired", "not_required")
PRESCREEN_OUTCOMES = ("eligible", "not_eligible", "pending", "incomplete")
CHANNELS = ("phone", "email", "sms", "mail")
_ANSWER_KINDS = {
    "string": "string",
    "text": "text",
    "integer": "number",
    "boolean": "boolean",
    "choice": "choice",
    "date": "date",
}


def program_facts(d: ProgramDefinition) -> dict[str, FactType]:
    """The facts conditions of this program may use, with the values each may take."""
    categories = sorted(
        {t.content_category for t in d.request_types.values() if t.content_category}
    )
    facts = {
        "request_type": FactType("choice", "request type", tuple(d.request_types)),
        "therapy_area": FactType("choice", "therapy area", tuple(d.therapy_areas)),
        "source": FactType("choice", "source", tuple(d.sources)),
        "lead_kind": FactType("choice", "lead kind", d.lead_kinds),
        "consent": FactType("choice", "consent status", CONSENT_STATES),
        "country": FactType("string", "country"),
        "region": FactType("string", "region"),
        "referrer": FactType("string", "referrer code"),
        "specialty": FactType("string", "specialty"),
        "target_specialty": FactType("boolean", "target_specialty"),
        "preferred_contact": FactType("choice", "contact channel", CHANNELS),
        "content_category": FactType("choice", "content category", tuple(categories)),
        "npi_check": FactType("choice", "NPI check result", ("valid", "invalid", "not_given")),
    }
    if d.prescreen is not None:
        facts["prescreen_outcome"] = FactType("choice", "prescreen outcome", PRESCREEN_OUTCOMES)
    for answer_id, spec in d.intake.answers.items():
        facts[f"answers.{answer_id}"] = answer_fact(answer_id, spec)
    return facts


def answer_fact(answer_id: str, spec: FieldSpec) -> FactType:
    values = tuple(choice.value for choice in spec.choices)
    return FactType(_ANSWER_KINDS[spec.type], f"answer {answer_id}", values)


def check_program(d: ProgramDefinition) -> list[Issue]:
    """Every reference and rule problem in a structurally valid definition."""
    checker = _Checker(d)
    checker.run()
    return checker.issues


class _Checker:
    def __init__(self, d: ProgramDefinition):
        self.d = d
        self.issues: list[Issue] = []
        self.facts = program_facts(d)
        self.term_lists = {"adverse_event_terms": list(d.adverse_event_terms)}

    def run(self) -> None:
        self.check_organisation()
        self.check_sources()
        self.check_intake()
        self.check_consent()
        self.check_qualification()
        self.check_prescreen()
        self.check_routes()
        self.check_alerts()
        check_outreach(self)

    # --- helpers -----------------------------------------------------------------------------

    def ref(self, loc: Loc, value: str | None, defined: Iterable[str], noun: str) -> None:
        defined = list(defined)
        if value is not None and value not in defined:
            self.issues.append(Issue(loc, f"unknown {noun} '{value}' (defined: {one_of(defined)})"))

    def refs(self, loc: Loc, values: Iterable[str], defined: Iterable[str], noun: str) -> None:
        defined = list(defined)
        for i, value in enumerate(values):
            self.ref((*loc, i), value, defined, noun)

    def unique(self, loc: Loc, items: Iterable[str], field: str | None, noun: str) -> None:
        """Report each repeat of a value, at the later item's path (``field`` inside it)."""
        seen: set[str] = set()
        for i, value in enumerate(items):
            if value in seen:
                here = (*loc, i, field) if field else (*loc, i)
                self.issues.append(Issue(here, f"duplicate {noun} '{value}'"))
            seen.add(value)

    def condition(self, loc: Loc, condition) -> None:
        if condition is not None:
            self.issues += check_condition(
                condition, facts=self.facts, loc=loc, term_lists=self.term_lists
            )

    def checklist(self, loc: Loc, items: tuple[ChecklistItem, ...]) -> None:
        self.unique(loc, [item.id for item in items], "id", "item id")
        for i, item in enumerate(items):
            self.condition((*loc, i, "when"), item.when)

    # --- sections ----------------------------------------------------------------------------

    def check_organisation(self) -> None:
        d = self.d
        self.ref(("owner", "team"), d.owner.team, d.teams, "team")
        for queue_id, queue in d.queues.items():
            self.ref(("queues", queue_id, "team"), queue.team, d.teams, "team")
        for type_id, request_type in d.request_types.items():
            self.ref(
                ("request_types", type_id, "lead_kind"),
                request_type.lead_kind,
                d.lead_kinds,
                "lead kind",
            )
        self.refs(
            ("target", "therapy_areas"), d.target.therapy_areas, d.therapy_areas, "therapy area"
        )
        self.unique(("lead_kinds",), d.lead_kinds, None, "lead kind")

    def check_sources(self) -> None:
        d = self.d
        for source_id, source in d.sources.items():
            loc = ("sources", source_id)
            if source.request_types != "all":
                self.refs(
                    (*loc, "request_types"), source.request_types, d.request_types, "request type"
                )
            if source.lead_kinds is not None:
                self.refs((*loc, "lead_kinds"), source.lead_kinds, d.lead_kinds, "lead kind")

    def check_intake(self) -> None:
        d, intake = self.d, self.d.intake
        for field, spec in intake.lead_fields.items():
            loc = ("intake", "lead_fields", field)
            self.condition((*loc, "required_when"), spec.required_when)
            if spec.choices and field != "preferred_contact":
                self.issues.append(
                    Issue(
                        (*loc, "choices"),
                        "choices apply to preferred_contact "
                        "only; the other lead fields have fixed formats",
                    )
                )
        for answer_id, spec in intake.answers.items():
            self.condition(("intake", "answers", answer_id, "required_when"), spec.required_when)
        if intake.therapy_area is not None:
            loc = ("intake", "therapy_area")
            if not d.therapy_areas:
                self.issues.append(Issue(loc, "the program defines no therapy_areas to ask for"))
            self.ref(
                (*loc, "default"), intake.therapy_area.default, d.therapy_areas, "therapy area"
            )

    def check_consent(self) -> None:
        d, consent = self.d, self.d.consent
        if "patient" in d.lead_kinds and (
            consent is None or "patient" not in consent.for_lead_kinds
        ):
            loc = ("consent",) if consent is None else ("consent", "for_lead_kinds")
            self.issues.append(
                Issue(
                    loc,
                    "patient leads need documented consent before any "
                    "contact: cover lead kind 'patient' here",
                )
            )
        if consent is None:
            return
        self.refs(("consent", "for_lead_kinds"), consent.for_lead_kinds, d.lead_kinds, "lead kind")
        self.unique(
            ("consent", "texts"),
            [t.version for t in consent.texts],
            "version",
            "consent text version",
        )
        covered: set[str] = set()
        for i, text in enumerate(consent.texts):
            self.refs(
                ("consent", "texts", i, "purposes"),
                text.purposes,
                consent.purposes,
                "consent purpose",
            )
            covered.update(text.purposes)
        for purpose in consent.purposes:
            if purpose not in covered:
                self.issues.append(
                    Issue(
                        ("consent", "purposes", purpose),
                        f"no consent text covers purpose '{purpose}'",
                    )
                )
        preferred = d.intake.lead_fields.get("preferred_contact")
        if preferred is not None and set(d.lead_kinds) <= set(consent.for_lead_kinds):
            # Every lead needs consent, so offering a channel nobody can consent to is a trap.
            for i, channel in enumerate(preferred.choices):
                if channel not in consent.channels:
                    self.issues.append(
                        Issue(
                            ("intake", "lead_fields", "preferred_contact", "choices", i),
                            f"'{channel}' is not a consent channel "
                            f"(consent.channels: {one_of(consent.channels)})",
                        )
                    )

    def check_qualification(self) -> None:
        for lead_kind, items in self.d.qualification.items():
            loc = ("qualification", lead_kind)
            if lead_kind not in self.d.lead_kinds:
                self.issues.append(
                    Issue(
                        loc,
                        f"lead kind '{lead_kind}' is not one of this "
                        f"program's lead_kinds ({one_of(self.d.lead_kinds)})",
                    )
                )
            self.checklist(loc, items)

    def check_prescreen(self) -> None:
        d = self.d
        is_trial = d.goal == "trial_prescreening"
        if is_trial and d.prescreen is None:
            self.issues.append(
                Issue(
                    ("prescreen",),
                    "a trial_prescreening program needs a prescreen section with its markers",
                )
            )
        if not is_trial and d.prescreen is not None:
            self.issues.append(
                Issue(
                    ("prescreen",),
                    "prescreen applies only to programs with goal trial_prescreening",
                )
            )
        if d.prescreen is None:
            return
        markers = d.prescreen.markers
        self.unique(("prescreen", "markers"), [m.id for m in markers], "id", "marker id")
        for i, marker in enumerate(markers):
            loc = ("prescreen", "markers", i)
            spec = d.intake.answers.get(marker.answer)
            if spec is None:
                self.ref((*loc, "answer"), marker.answer, d.intake.answers, "answer")
                continue
            self.issues += check_requirement(
                marker.require,
                fact=answer_fact(marker.answer, spec),
                loc=(*loc, "require"),
                term_lists=self.term_lists,
            )

    def check_routes(self) -> None:
        d = self.d
        routes = d.routes
        self.unique(("routes",), [r.id for r in routes], "id", "route id")
        defaults = [i for i, route in enumerate(routes) if route.default]
        if not defaults:
            self.issues.append(
                Issue(
                    ("routes",),
                    "no default route: end the list with "
                    "{id: ..., default: true, then: {queue: ...}}",
                )
            )
        for i in defaults[1:]:
            self.issues.append(Issue(("routes", i, "default"), "only one route may be the default"))
        if defaults and defaults[0] != len(routes) - 1:
            self.issues.append(
                Issue(
                    ("routes", defaults[0], "default"),
                    "the default route must be the last route; routes after it could never match",
                )
            )
        for i, route in enumerate(routes):
            loc = ("routes", i)
            self.condition((*loc, "when"), route.when)
            action = route.then
            self.ref((*loc, "then", "queue"), action.queue, d.queues, "queue")
            self.refs((*loc, "then", "also_notify"), action.also_notify, d.queues, "queue")
            self.checklist((*loc, "then", "checks"), action.checks)
            if action.checks and "extra_validation" not in action.flags:
                self.issues.append(
                    Issue(
                        (*loc, "then", "checks"),
                        "checks are for extra validation: add the flag extra_validation",
                    )
                )

    def check_alerts(self) -> None:
        d = self.d
        route_ids = {r.id for r in d.routes}
        self.unique(("alerts",), [a.id for a in d.alerts], "id", "alert id")
        for i, alert in enumerate(d.alerts):
            loc = ("alerts", i)
            if alert.id in route_ids:
                self.issues.append(
                    Issue(
                        (*loc, "id"),
                        f"'{alert.id}' is already a route id; explanations need distinct rule ids",
                    )
                )
            self.condition((*loc, "when"), alert.when)
            self.refs((*loc, "also_notify"), alert.also_notify, d.queues, "queue")
            if not alert.flags and not alert.also_notify:
                self.issues.append(Issue(loc, "an alert must add flags or notify a queue"))
