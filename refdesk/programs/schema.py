"""The program definition schema: one YAML file in ``programs/`` is one ``ProgramDefinition``.

Structure (types, required keys, unknown keys) is checked here by pydantic; everything that
needs the whole program (references between sections, conditions) is checked afterwards in
``references.py``, where every error can point at its exact path. ``docgen.py`` renders
docs/program-schema.md from these models, so each field's description is its documentation.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from refdesk.programs.schema_base import (
    AnswerId,
    Bool,
    CategoryId,
    ClockTime,
    Condition,
    DocName,
    Email,
    Flag,
    ItemId,
    LeadKind,
    Model,
    PositiveInt,
    ProgramId,
    QueueId,
    RequestTypeId,
    Requirement,
    RuleId,
    SourceId,
    SpecialtyId,
    TeamId,
    TemplateId,
    Text,
    TherapyAreaId,
    Weekday,
)
from refdesk.programs.schema_intake import Consent, Intake, Source
from refdesk.programs.schema_outreach import (
    Followup,
    Material,
    MaterialId,
    Scheduling,
    Sla,
    Template,
)

SCHEMA_ID = "refdesk/program/v1"


def _known_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone '{name}' (use an IANA name like America/New_York)"
        ) from exc
    return name


TimeZone = Annotated[str, AfterValidator(_known_timezone), DocName("IANA time zone")]


class Owner(Model):
    """Who answers for the program."""

    team: TeamId = Field(description="The owning team (one of teams).")
    person: Text = Field(description="The named program owner.")


class Governance(Model):
    """The group that reviews and approves the program's rules and materials."""

    group: Text = Field(description="Name of the governance group.")
    contact: Email = Field(description="Where change requests and questions go.")


class Target(Model):
    """Who the program is for; used by qualification and reports."""

    therapy_areas: tuple[TherapyAreaId, ...] = Field((), description="Targeted therapy areas.")
    specialties: tuple[SpecialtyId, ...] = Field(
        (), description="Targeted clinician specialties (the target_specialty fact)."
    )
    regions: tuple[Text, ...] = Field((), description="Targeted regions, e.g. US or US-NY.")
    diseases: tuple[Text, ...] = Field((), description="Targeted diseases, in words.")
    settings: tuple[Text, ...] = Field((), description="Targeted clinical settings, in words.")


class BusinessHours(Model):
    """When the SLA clock runs."""

    timezone: TimeZone | None = Field(
        None, description="IANA time zone; omitted means the owner team's time zone."
    )
    days: tuple[Weekday, ...] = Field(
        ("mon", "tue", "wed", "thu", "fri"), min_length=1, description="Working days."
    )
    start: ClockTime = Field("09:00", description="Start of the working day.")
    end: ClockTime = Field("17:00", description="End of the working day; after start.")
    holidays: tuple[dt.date, ...] = Field((), description="Dates the clock does not run.")

    @model_validator(mode="after")
    def _end_after_start(self):
        if self.end <= self.start:  # "HH:MM" strings compare in time order
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Team(Model):
    """A group of staff that works one or more queues."""

    name: Text = Field(description="Display name.")
    timezone: TimeZone = Field("America/New_York", description="The team's IANA time zone.")


class Queue(Model):
    """A team's list of referrals to work."""

    name: Text = Field(description="Display name.")
    team: TeamId = Field(description="The team that works it (one of teams).")
    description: Text | None = Field(None, description="What lands here.")


class TherapyArea(Model):
    """A therapeutic area the program covers."""

    label: Text = Field(description="Display name.")


class RequestType(Model):
    """What the referrer asks for; drives routing, templates and qualification."""

    label: Text = Field(description="Display name shown on the form.")
    description: Text = Field(description="Guidance shown on the form.")
    lead_kind: LeadKind = Field(description="The kind of lead this request is about.")
    content_category: CategoryId | None = Field(
        None, description="The approved content category that answers it (content_category fact)."
    )
    requires_medical_review: Bool = Field(
        False,
        description="Every referral of this type is flagged medical_review_required, "
        "whatever route it takes: no response before a medical reviewer signs off.",
    )


class ChecklistItem(Model):
    """One check; met when its condition holds for the referral's facts."""

    id: ItemId = Field(description="Unique within its list; shown in explanations.")
    label: Text = Field(description="What is checked, in words.")
    when: Condition = Field(description="The condition that makes the item met.")


class Marker(Model):
    """One prescreen eligibility marker, tested on one answer."""

    id: ItemId = Field(description="Unique marker id; reported as a reason.")
    label: Text = Field(description="The criterion in words.")
    answer: AnswerId = Field(description="The answer it tests (one of intake.answers).")
    require: Requirement = Field(
        description="What the answer must satisfy: a value or an operator mapping, e.g. {gte: 18}."
    )


class Prescreen(Model):
    """Trial programs: turns answers into a prescreen outcome.

    Outcome, first match wins: any marker failed -> not_eligible (reasons: failed markers);
    any marker unanswered -> incomplete (reasons: missing markers); any answered "records
    requested" -> pending; otherwise eligible.
    """

    markers: tuple[Marker, ...] = Field(min_length=1, description="All must be met to be eligible.")


class RouteAction(Model):
    """Where a matching route sends the referral."""

    queue: QueueId = Field(description="The queue that works it.")
    flags: tuple[Flag, ...] = Field(
        (),
        description="medical_review_required and extra_validation hold the referral in "
        "awaiting_review until signed off; possible_adverse_event marks it for drug safety.",
    )
    also_notify: tuple[QueueId, ...] = Field(
        (), description="Queues that get a copy for information; the main queue keeps it."
    )
    checks: tuple[ChecklistItem, ...] = Field(
        (), description="For extra_validation: what the validator confirms, pre-evaluated."
    )


class Route(Model):
    """One routing rule. Routes are tried in order; the first whose condition holds wins."""

    id: RuleId = Field(description='Unique; explanations say "routed by rule <id> of version N".')
    description: Text | None = Field(None, description="Why this rule exists.")
    when: Condition | None = Field(None, description="The condition; absent only on the default.")
    default: Bool = Field(False, description="The catch-all last route; exactly one, last.")
    then: RouteAction = Field(description="Where the referral goes.")

    @model_validator(mode="after")
    def _default_has_no_condition(self):
        if self.default and self.when is not None:
            raise ValueError("the default route applies to everything; remove its 'when'")
        if not self.default and self.when is None:
            raise ValueError("a route needs a 'when' condition (or default: true)")
        return self


class Alert(Model):
    """A rule applied on top of routing: every alert whose condition holds adds its flags and
    notifications, while the referral stays in the queue its route chose."""

    id: RuleId = Field(description="Unique among alerts; named in explanations.")
    description: Text | None = Field(None, description="Why this alert exists.")
    when: Condition = Field(description="The condition that raises it.")
    flags: tuple[Flag, ...] = Field((), description="Flags added to the referral.")
    also_notify: tuple[QueueId, ...] = Field(
        (), description="Queues notified at once, with the referral's time of receipt."
    )


class Duplicates(Model):
    """How a new referral is matched against recent ones for the same lead."""

    window_days: PositiveInt = Field(30, description="How far back to look.")
    match_on: tuple[Literal["email", "phone", "npi", "name_and_birth_year"], ...] = Field(
        ("email", "phone"), min_length=1, description="Any one matching key marks a duplicate."
    )


class Safety(Model):
    """The clocks of drug-safety notices (possible adverse events sent to a safety queue).

    Day 0 is the referral's time of receipt: the notice is due for triage ``triage_hours``
    after it, and a serious adverse event must be reported to the authorities within
    ``expedited_report_days`` calendar days of it (15 under ICH E2D)."""

    triage_hours: PositiveInt = Field(
        24, description="Hours from receipt (day 0) within which a notice must be triaged."
    )
    expedited_report_days: PositiveInt = Field(
        15,
        description="Calendar days from receipt (day 0) to the expedited report of a serious "
        "adverse event.",
    )


class Retention(Model):
    """How long lead personal data is kept after a referral closes."""

    days: PositiveInt = Field(description="Days after closing.")
    action: Literal["erase", "pseudonymise"] = Field(
        "pseudonymise", description="What happens to personal data then; reports keep counts."
    )


class ProgramDefinition(Model):
    """One referral program: everything that decides how its referrals are handled."""

    schema_: Literal["refdesk/program/v1"] = Field(
        alias="schema", description=f'Schema version; always "{SCHEMA_ID}".'
    )
    id: ProgramId = Field(description="The program's permanent slug, e.g. trial-prescreening.")
    name: Text = Field(description="Display name.")
    goal: Literal["trial_prescreening", "clinician_education", "patient_support"] = Field(
        description="What the program turns referrals into; decides what qualified means."
    )
    description: Text = Field(description="What the program does, for staff and auditors.")
    owner: Owner = Field(description="The owning team and person.")
    governance: Governance = Field(description="The reviewing group.")
    target: Target = Field(Target(), description="Who the program is for.")
    business_hours: BusinessHours = Field(BusinessHours(), description="When the SLA clock runs.")
    teams: dict[TeamId, Team] = Field(min_length=1, description="Teams this program uses.")
    queues: dict[QueueId, Queue] = Field(min_length=1, description="Queues this program uses.")
    lead_kinds: tuple[LeadKind, ...] = Field(min_length=1, description="Who may be referred.")
    therapy_areas: dict[TherapyAreaId, TherapyArea] = Field({}, description="Therapy areas.")
    request_types: dict[RequestTypeId, RequestType] = Field(
        min_length=1, description="What referrers may ask for."
    )
    sources: dict[SourceId, Source] = Field(min_length=1, description="Who may refer, and how.")
    intake: Intake = Field(description="What a referral contains.")
    consent: Consent | None = Field(None, description="Consent rules; omitted means none needed.")
    qualification: dict[LeadKind, tuple[ChecklistItem, ...]] = Field(
        {}, description="Checklist per lead kind; a lead is qualified when all items are met."
    )
    prescreen: Prescreen | None = Field(
        None, description="Trial programs only, and required there."
    )
    routes: tuple[Route, ...] = Field(min_length=1, description="Ordered routing rules.")
    alerts: tuple[Alert, ...] = Field((), description="Rules applied on top of routing.")
    sla: Sla = Field(description="First-response promise.")
    templates: dict[TemplateId, Template] = Field(min_length=1, description="Approved messages.")
    materials: dict[MaterialId, Material] = Field(
        {}, description="Approved education materials ({links.materials})."
    )
    followup: Followup = Field(description="Acknowledgement, first outreach and retries.")
    scheduling: Scheduling | None = Field(None, description="Omitted means no scheduling.")
    duplicates: Duplicates = Field(Duplicates(), description="Duplicate detection.")
    adverse_event_terms: tuple[Text, ...] = Field(
        (), description="Words that suggest a possible adverse event (term list for contains_any)."
    )
    safety: Safety = Field(
        Safety(), description="Clocks of drug-safety notices (triage window, expedited report)."
    )
    retention: Retention = Field(description="Personal data retention.")

    def business_timezone(self) -> str:
        """The time zone of the SLA clock: business_hours.timezone, else the owner team's."""
        return self.business_hours.timezone or self.teams[self.owner.team].timezone
