"""Building blocks shared by the program schema models: the base model and identifier types.

Identifiers come in two spellings on purpose: things people name in URLs and queues use
dashes (``clinical-ops-prescreening``); things that become data keys and condition facts use
underscores (``trial_prescreen``, ``answers.study_id``), so ``answers.<id>`` stays one token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints


class Model(BaseModel):
    # Unknown keys are errors (a typo must never silently drop a rule); frozen because a loaded
    # definition is a snapshot that every referral points at.
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True)


@dataclass(frozen=True)
class DocName:
    """Annotated marker: how the generated reference names a type ("queue id", "condition")."""

    name: str
    anchor: str | None = None  # section of docs/program-schema.md explaining it


SLUG_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"
CODE_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# Friendly wording for pattern errors, keyed by pattern (pydantic reports the raw regex).
PATTERN_HINTS = {
    SLUG_PATTERN: "a slug: lowercase letters, digits and '-', starting with a letter, 2-63 long",
    CODE_PATTERN: "a code: lowercase letters, digits and '_', starting with a letter, 2-63 long",
    TIME_PATTERN: 'a time "HH:MM" in quotes (unquoted 17:00 is read by YAML as a number)',
    EMAIL_PATTERN: "an email address",
}


def _slug(what: str) -> Any:
    return Annotated[str, StringConstraints(pattern=SLUG_PATTERN), DocName(what, "identifiers")]


def _code(what: str) -> Any:
    return Annotated[str, StringConstraints(pattern=CODE_PATTERN), DocName(what, "identifiers")]


Bool = Annotated[bool, Strict()]  # no "yes"/1 coercion: a typo'd flag must not flip a rule
Int = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Field(ge=1)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]
Text = Annotated[str, StringConstraints(min_length=1)]
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN), DocName("email address")]
ClockTime = Annotated[str, StringConstraints(pattern=TIME_PATTERN), DocName('"HH:MM"')]

ProgramId = _slug("program id")
TeamId = _slug("team id")
QueueId = _slug("queue id")
SourceId = _slug("source id")
TemplateId = _slug("template id")
RuleId = _slug("rule id")
AppointmentTypeId = _slug("appointment type id")
RequestTypeId = _code("request type id")
TherapyAreaId = _code("therapy area id")
AnswerId = _code("answer id")
PurposeId = _code("consent purpose id")
ItemId = _code("item id")
CategoryId = _code("content category")
SpecialtyId = _code("specialty")

Condition = Annotated[dict[str, Any], DocName("condition", "condition-language")]
Requirement = Annotated[Any, DocName("value or operator mapping", "condition-language")]

LeadKind = Literal["patient", "clinician", "organization"]
Channel = Literal["phone", "email", "sms", "mail"]
Flag = Literal["medical_review_required", "extra_validation", "possible_adverse_event"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
