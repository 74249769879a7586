"""The public intake definition of a program: what a partner reads to build an integration.

A whitelist taken from the active version: agreements, routing, templates and anything internal
stay out.
"""

from __future__ import annotations

from typing import Any

from refdesk.core.errors import NotFound
from refdesk.programs.schema_intake import LEAD_FIELD_DOCS
from refdesk.programs.selectors import program_active_version, version_definition


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def program_public_definition(*, slug: str) -> dict[str, Any]:
    version = program_active_version(slug=slug)
    if version is None:
        raise NotFound("there is no such program", code="unknown_program")
    d = version_definition(version)
    intake = d.intake
    consent = None
    if d.consent is not None:
        texts = sorted(d.consent.texts, key=lambda text: text.published)
        consent = {
            "required_at_intake": d.consent.required_at_intake,
            "for_lead_kinds": list(d.consent.for_lead_kinds),
            "purposes": [
                {"id": key, "label": p.label, "description": p.description}
                for key, p in d.consent.purposes.items()
            ],
            "channels": list(d.consent.channels),
            "methods": list(d.consent.methods),
            "texts": [
                {
                    "version": t.version,
                    "published": t.published,
                    "purposes": list(t.purposes),
                    "text": t.text,
                }
                for t in texts
            ],
            "current_text_version": texts[-1].version,
        }
    return {
        "id": d.id,
        "name": d.name,
        "goal": d.goal,
        "version": version.number,
        "lead_kinds": list(d.lead_kinds),
        "sources": [
            {
                "id": key,
                "label": s.label,
                "description": s.description,
                "submission_methods": list(s.submission_methods),
                "request_types": (
                    list(d.request_types) if s.request_types == "all" else list(s.request_types)
                ),
                "lead_kinds": list(s.lead_kinds or d.lead_kinds),
                "instructions": s.instructions.model_dump(),
            }
            for key, s in d.sources.items()
        ],
        "request_types": [
            {"id": key, "label": r.label, "description": r.description, "lead_kind": r.lead_kind}
            for key, r in d.request_types.items()
        ],
        "therapy_areas": [{"id": key, "label": t.label} for key, t in d.therapy_areas.items()],
        "therapy_area": intake.therapy_area.model_dump() if intake.therapy_area else None,
        "lead_fields": [
            {
                "name": name,
                "label": spec.label or _label(name),
                "type": "integer" if name == "birth_year" else "string",
                "format": LEAD_FIELD_DOCS[name],
                "required": spec.required,
                "required_when": spec.required_when,
                "choices": list(spec.choices),
                "help": spec.help,
                "example": spec.example,
            }
            for name, spec in intake.lead_fields.items()
        ],
        "answers": [
            {
                "name": name,
                "label": spec.label,
                "type": spec.type,
                "required": spec.required,
                "required_when": spec.required_when,
                "choices": [{"value": c.value, "label": c.label} for c in spec.choices],
                "min": spec.min,
                "max": spec.max,
                "help": spec.help,
                "example": spec.example,
                "records_pending_allowed": spec.records_pending_allowed,
            }
            for name, spec in intake.answers.items()
        ],
        "consent": consent,
    }
