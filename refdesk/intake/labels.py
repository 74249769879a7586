"""Words for program items on pages and in messages: lead fields, answers, channels, methods,
and the consent text in force. Shared by the referrer's pages, the console and the emails."""

from __future__ import annotations

import datetime as dt

from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_intake import ConsentText

LEAD_LABELS = {
    "given_name": "Given name",
    "family_name": "Family name",
    "email": "Email address",
    "phone": "Phone number",
    "preferred_contact": "Preferred contact method",
    "timezone": "Time zone",
    "language": "Preferred language",
    "country": "Country (two-letter code)",
    "postal_code": "Postal code",
    "birth_year": "Year of birth",
    "npi": "NPI (National Provider Identifier)",
    "specialty": "Specialty",
    "organization": "Organization",
}
CHANNEL_LABELS = {"phone": "Phone call", "email": "Email", "sms": "Text message", "mail": "Letter"}
METHOD_LABELS = {
    "self": "The person is filling in this form themselves",
    "attested_by_referrer": "I confirm the person gave me this consent",
    "verbal_recorded": "The person consented verbally on a recorded call",
}


def request_type_label(definition: ProgramDefinition, code: str) -> str:
    spec = definition.request_types.get(code)
    return spec.label if spec else code.replace("_", " ").capitalize()


def purpose_label(definition: ProgramDefinition, code: str) -> str:
    spec = definition.consent.purposes.get(code) if definition.consent else None
    return spec.label if spec else code.replace("_", " ").capitalize()


def channel_label(code: str) -> str:
    return CHANNEL_LABELS.get(code, code)


def lead_label(definition: ProgramDefinition, name: str) -> str:
    spec = definition.intake.lead_fields.get(name)
    return (spec.label if spec and spec.label else None) or LEAD_LABELS.get(name, name)


def item_label(definition: ProgramDefinition, item: str) -> str:
    """The label of a missing-item name such as ``lead.email`` or ``answers.age``."""
    group, _, name = item.partition(".")
    if group == "lead":
        return lead_label(definition, name)
    spec = definition.intake.answers.get(name)
    return spec.label if spec else name.replace("_", " ").capitalize()


def latest_consent_text(definition: ProgramDefinition, today: dt.date) -> ConsentText | None:
    """The consent wording in force: the latest published on or before today."""
    if definition.consent is None:
        return None
    published = [text for text in definition.consent.texts if text.published <= today]
    return max(published, key=lambda text: text.published) if published else None
