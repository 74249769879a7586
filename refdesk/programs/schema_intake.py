"""Schema models for who may refer and what they submit: sources, intake fields and consent."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from refdesk.programs.schema_base import (
    AnswerId,
    Bool,
    Channel,
    Condition,
    Int,
    LeadKind,
    Model,
    PositiveInt,
    PurposeId,
    RequestTypeId,
    Text,
    TherapyAreaId,
)

LeadField = Literal[
    "given_name",
    "family_name",
    "email",
    "phone",
    "preferred_contact",
    "timezone",
    "language",
    "country",
    "postal_code",
    "birth_year",
    "npi",
    "specialty",
    "organization",
]

# The built-in lead fields have fixed meanings and types (a phone is always validated as a
# phone), so a program only says whether and how to ask for them.
LEAD_FIELD_DOCS: dict[str, str] = {
    "given_name": "text",
    "family_name": "text",
    "email": "email address, syntax-checked",
    "phone": "phone number, normalised to E.164",
    "preferred_contact": "choice of phone, email, sms, mail (narrow it with choices)",
    "timezone": "IANA time zone, e.g. America/Chicago",
    "language": "BCP 47 tag, e.g. en, es-US",
    "country": "ISO 3166 alpha-2, e.g. US",
    "postal_code": "text",
    "birth_year": "integer year",
    "npi": "10-digit US National Provider Identifier, check digit tested",
    "specialty": "specialty code, e.g. oncology",
    "organization": "text",
}


class Instructions(Model):
    """The written guidance a source's intake page shows to referrers."""

    what_to_submit: Text = Field(description="What the referrer needs at hand to submit.")
    what_happens_next: Text = Field(description="What the program does after submission.")
    response_time: Text = Field(
        description='The promised response time in words, e.g. "within 2 business days".'
    )


class Agreement(Model):
    """The terms agreed with a partner source; shown to staff handling its referrals."""

    reference: Text | None = Field(None, description="Contract or agreement reference.")
    approved_messaging: Text = Field(
        description="What the partner may say to people it refers (approved wording or scope)."
    )
    data_sharing: Text = Field(description="What data may flow back to the partner, if any.")
    reports: Literal["received", "outcomes"] = Field(
        "received",
        description="What the partner's referrer report may show: counts of referrals received "
        "only, or counts by outcome too (always counts, small numbers suppressed).",
    )
    followup_owner: Literal["program", "partner"] = Field(
        description="Who owns follow-up and reporting for referred leads."
    )


class Source(Model):
    """One channel through which referrers submit (a form link, an API client, an upload)."""

    label: Text = Field(description="Name shown on the intake page and in reports.")
    description: Text = Field(description="Who refers through this source and why.")
    submission_methods: tuple[Literal["web", "api", "bulk"], ...] = Field(
        min_length=1, description="How this source may submit: web form, partner API, bulk upload."
    )
    request_types: Literal["all"] | tuple[RequestTypeId, ...] = Field(
        description='The request types this source may send: a list of ids, or "all".'
    )
    lead_kinds: tuple[LeadKind, ...] | None = Field(
        None, description="The lead kinds it may refer; omitted means all of the program's."
    )
    instructions: Instructions = Field(description="Guidance shown on its intake page.")
    agreement: Agreement | None = Field(
        None, description="Partner agreement terms; omitted for non-partner sources."
    )

    @field_validator("request_types", mode="before")
    @classmethod
    def _all_or_list(cls, value):
        # Without this the union reports "expected 'all'" for any stray text, hiding the
        # list alternative.
        if value != "all" and not isinstance(value, list | tuple):
            raise ValueError(f'expected "all" or a list of request type ids, got {value!r}')
        return value


class ChoiceOption(Model):
    """One allowed value of a choice question."""

    value: Text = Field(description="The stored value, used in conditions.")
    label: Text = Field(description="What the form shows.")


FieldType = Literal["string", "text", "integer", "boolean", "choice", "date"]


class FieldSpec(Model):
    """One program-specific intake question (an *answer*)."""

    label: Text = Field(description="The question as the form shows it.")
    type: FieldType = Field(
        description="string (one line), text (free prose), integer, boolean, choice or date."
    )
    required: Bool = Field(False, description="Must be answered for the referral to be complete.")
    required_when: Condition | None = Field(
        None, description="Required only when this condition holds (e.g. for one request type)."
    )
    choices: tuple[ChoiceOption, ...] = Field(
        (), description="The allowed values; only and always for type choice."
    )
    min: Int | None = Field(None, description="Smallest allowed value (integer questions).")
    max: Int | None = Field(None, description="Largest allowed value (integer questions).")
    help: Text | None = Field(None, description="Guidance shown under the field.")
    example: Text | None = Field(None, description="An example answer shown as a hint.")
    sensitive: Bool = Field(
        False, description="Patient health data: encrypted at rest, hidden from roles without need."
    )
    records_pending_allowed: Bool = Field(
        False,
        description='The referrer may answer "records requested" instead of a value; a '
        "prescreen marker on it is then pending rather than incomplete.",
    )

    @model_validator(mode="after")
    def _shape_fits_type(self):
        if self.type == "choice" and not self.choices:
            raise ValueError("a choice question needs choices")
        if self.type != "choice" and self.choices:
            raise ValueError(f"choices only apply to type choice, not {self.type}")
        if self.type != "integer" and (self.min is not None or self.max is not None):
            raise ValueError("min and max only apply to type integer")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.required and self.required_when is not None:
            raise ValueError("give either required: true or required_when, not both")
        return self


class LeadFieldSpec(Model):
    """How the form asks for one built-in lead field (its type is fixed, see the list above)."""

    label: Text | None = Field(None, description="Overrides the standard label.")
    required: Bool = Field(False, description="Must be given for the referral to be complete.")
    required_when: Condition | None = Field(
        None, description="Required only when this condition holds (e.g. preferred_contact: sms)."
    )
    choices: tuple[Channel, ...] = Field(
        (), description="preferred_contact only: the channels offered (default: all four)."
    )
    help: Text | None = Field(None, description="Guidance shown under the field.")
    example: Text | None = Field(None, description="An example value shown as a hint.")

    @model_validator(mode="after")
    def _one_requirement(self):
        if self.required and self.required_when is not None:
            raise ValueError("give either required: true or required_when, not both")
        return self


class TherapyAreaInput(Model):
    """Whether and how the form asks for the referral's therapy area."""

    ask: Bool = Field(True, description="Show the question; when false the default applies.")
    required: Bool = Field(False, description="Must be chosen for the referral to be complete.")
    default: TherapyAreaId | None = Field(
        None, description="Therapy area used when none is chosen."
    )
    help: Text | None = Field(None, description="Guidance shown under the field.")

    @model_validator(mode="after")
    def _default_when_hidden(self):
        if not self.ask and self.default is None:
            raise ValueError("a therapy area that is not asked needs a default")
        return self


class Intake(Model):
    """What a referral must and may contain; the form, the API and bulk upload all obey it."""

    lead_fields: dict[LeadField, LeadFieldSpec] = Field(
        description="The built-in lead fields this program asks for; unlisted ones are not asked."
    )
    answers: dict[AnswerId, FieldSpec] = Field(
        {}, description="Program-specific questions, usable in conditions as answers.<id>."
    )
    therapy_area: TherapyAreaInput | None = Field(
        None, description="How the therapy area is captured; omitted means it is not captured."
    )
    timezone_from_location: Bool = Field(
        True,
        description="When the lead's time zone is not given, derive it from country and postal "
        "code where that is unambiguous.",
    )


class ConsentPurpose(Model):
    """One purpose a lead may consent to (e.g. being contacted about a trial)."""

    label: Text = Field(description="Short name shown on the form and in the consent record.")
    description: Text | None = Field(None, description="What the purpose covers.")


class ConsentText(Model):
    """One published version of the consent wording; records keep the version shown."""

    version: Text = Field(description='Unique version label, e.g. "2026-01".')
    published: dt.date = Field(description="Date it took effect; the latest published applies.")
    purposes: tuple[PurposeId, ...] = Field(min_length=1, description="Purposes this text covers.")
    text: Text = Field(description="The exact wording shown to (or read to) the lead.")


class Consent(Model):
    """Documented permission to contact leads: no message goes out to them without it."""

    required_at_intake: Bool = Field(
        description="A referral of the lead kinds below is incomplete without consent."
    )
    for_lead_kinds: tuple[LeadKind, ...] = Field(
        min_length=1, description="Lead kinds whose contact needs consent."
    )
    purposes: dict[PurposeId, ConsentPurpose] = Field(
        min_length=1, description="What the lead may consent to."
    )
    channels: tuple[Channel, ...] = Field(
        min_length=1, description="Channels the lead may consent to be contacted on."
    )
    methods: tuple[Literal["self", "attested_by_referrer", "verbal_recorded"], ...] = Field(
        min_length=1,
        description="How consent may be captured: by the lead, attested by the referrer, "
        "or given verbally on a recorded call.",
    )
    texts: tuple[ConsentText, ...] = Field(min_length=1, description="Versioned consent wording.")
    valid_days: PositiveInt | None = Field(
        None,
        description="Days a consent stays valid after it is given; then it expires and gates "
        "contact like a withdrawal until it is given again. Omit: it does not expire.",
    )
