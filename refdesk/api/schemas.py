"""In/Out schemas, one pair per operation. Inputs are strict (no coercion of "yes" into true) and
closed (unknown fields are errors); outputs are whitelists, which is how patient data stays in."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

Short = Annotated[str, Field(max_length=200)]
Id = Annotated[str, Field(max_length=63)]


def _scalar(value: Any) -> Any:
    # One check instead of a bool|int|str union, so a wrong type is one error on the answer
    # (not one per union member); the service then checks it against the question's type.
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str) and len(value) <= 10000:
        return value
    raise PydanticCustomError("answer_type", "Expected true/false, a whole number or text.")


AnswerValue = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "boolean"},
                {"type": "integer"},
                {"type": "string", "maxLength": 10000},
                {"type": "null"},
            ]
        }
    ),
]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)


class LeadIn(StrictIn):
    """The person referred. Which fields a program needs: GET /programs/{program}."""

    kind: Literal["patient", "clinician", "organization"] | None = Field(
        None, description="Defaults to the request type's lead kind."
    )
    given_name: Short | None = None
    family_name: Short | None = None
    email: Short | None = None
    phone: Short | None = Field(None, description="Any format valid for the lead's country.")
    preferred_contact: Literal["phone", "email", "sms", "mail"] | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="IANA time zone, e.g. America/Chicago."
    )
    language: Annotated[str, Field(max_length=16)] | None = None
    country: Annotated[str, Field(max_length=2)] | None = Field(
        None, description="ISO 3166 alpha-2; default US."
    )
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    birth_year: int | None = None
    npi: Annotated[str, Field(max_length=10)] | None = Field(
        None, description="Clinician leads only; check digit tested."
    )
    specialty: Id | None = Field(None, description="Clinician leads only.")
    organization: Short | None = None


class ConsentIn(StrictIn):
    granted: bool
    purposes: list[Id] = Field(default_factory=list, max_length=20)
    channels: list[Id] = Field(default_factory=list, max_length=10)
    method: Id = Field(description="self, attested_by_referrer or verbal_recorded.")
    text_version: Id = Field(
        description="One of the consent text versions the program published (see its definition)."
    )


class UtmIn(StrictIn):
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_content: Short | None = None
    utm_term: Short | None = None


class ReferralIn(StrictIn):
    program: Id
    source: Id
    referrer_code: Annotated[str, Field(max_length=20)] | None = Field(
        None, description="Optional: the key names its referrer; if given it must be that one."
    )
    request_type: Id
    therapy_area: Id | None = None
    lead: LeadIn
    consent: ConsentIn | None = None
    answers: dict[Id, AnswerValue] = Field(default_factory=dict, max_length=100)
    utm: UtmIn | None = Field(None, description="Campaign parameters, kept for attribution.")


class RouteOut(Schema):
    queue: str = Field(description="The queue that works the referral.")
    rule: str | None = Field(description="The routing rule that matched (none for a re-route).")
    version: int = Field(description="The program version whose rules decided.")
    flags: list[str] = Field(description="e.g. medical_review_required, possible_adverse_event.")
    explanation: list[str] = Field(description="Why, in sentences; never patient data.")


class ReferralCreatedOut(Schema):
    id: UUID
    reference: str
    stage: str
    outcome: str | None
    prescreen_outcome: str | None
    missing: list[str] = Field(description="Names of the items still missing (never values).")
    duplicate_of: str | None = Field(
        description="For a duplicate: the reference of the referral it was added to; stage and "
        "outcome are then that referral's."
    )
    route: RouteOut | None = Field(description="How it was routed; null until it is routed.")


class ReferralStatusOut(Schema):
    id: UUID
    reference: str
    stage: str
    outcome: str | None
    prescreen_outcome: str | None
    missing: list[str]
    duplicate_of: str | None
    received_at: dt.datetime


class ErrorItem(Schema):
    field: str | None
    code: str
    message: str


class ErrorOut(Schema):
    errors: list[ErrorItem]


# -- the public program definition --------------------------------------------------------------


class InstructionsOut(Schema):
    what_to_submit: str
    what_happens_next: str
    response_time: str


class SourceOut(Schema):
    id: str
    label: str
    description: str
    submission_methods: list[str]
    request_types: list[str]
    lead_kinds: list[str]
    instructions: InstructionsOut


class RequestTypeOut(Schema):
    id: str
    label: str
    description: str
    lead_kind: str


class LabelledOut(Schema):
    id: str
    label: str
    description: str | None = None


class TherapyAreaInputOut(Schema):
    ask: bool
    required: bool
    default: str | None
    help: str | None


class ChoiceOut(Schema):
    value: str
    label: str


class LeadFieldOut(Schema):
    name: str
    label: str
    type: Literal["string", "integer"]
    format: str
    required: bool
    required_when: dict[str, Any] | None
    choices: list[str]
    help: str | None
    example: str | None


class AnswerFieldOut(Schema):
    name: str
    label: str
    type: str
    required: bool
    required_when: dict[str, Any] | None
    choices: list[ChoiceOut]
    min: int | None
    max: int | None
    help: str | None
    example: str | None
    records_pending_allowed: bool


class ConsentTextOut(Schema):
    version: str
    published: dt.date
    purposes: list[str]
    text: str


class ConsentOut(Schema):
    required_at_intake: bool
    for_lead_kinds: list[str]
    purposes: list[LabelledOut]
    channels: list[str]
    methods: list[str]
    texts: list[ConsentTextOut]
    current_text_version: str


class ProgramDefinitionOut(Schema):
    id: str
    name: str
    goal: str
    version: int
    lead_kinds: list[str]
    sources: list[SourceOut]
    request_types: list[RequestTypeOut]
    therapy_areas: list[LabelledOut]
    therapy_area: TherapyAreaInputOut | None
    lead_fields: list[LeadFieldOut]
    answers: list[AnswerFieldOut]
    consent: ConsentOut | None
