"""Whole-program checks for what happens after routing: SLA, templates, follow-up, scheduling.

Split from references.py only for size; ``check_outreach`` takes that module's checker (its
``d``, ``issues``, ``ref``, ``refs`` and ``condition``) so both report the same way.
"""

from __future__ import annotations

import re

from refdesk.programs.issues import Issue, Loc
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_outreach import PLACEHOLDERS

PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
ALL_CHANNELS = ("phone", "email", "sms", "mail")


def check_outreach(c) -> None:
    _check_sla(c)
    _check_templates(c)
    _check_materials(c)
    _check_content_categories(c)
    _check_followup(c)
    _check_scheduling(c)


def outreach_channels(d: ProgramDefinition) -> set[str]:
    """Channels a first message to a lead may have to use: whatever the lead may consent to,
    and for leads that need no consent, whatever preferred contact the form offers."""
    channels: set[str] = set(d.consent.channels) if d.consent else set()
    consented = set(d.consent.for_lead_kinds) if d.consent else set()
    preferred = d.intake.lead_fields.get("preferred_contact")
    if preferred is not None and any(kind not in consented for kind in d.lead_kinds):
        channels |= set(preferred.choices or ALL_CHANNELS)
    return channels


def _check_sla(c) -> None:
    escalation = c.d.sla.escalation
    if escalation is not None:
        c.refs(
            ("sla", "escalation", "notify_queues"), escalation.notify_queues, c.d.queues, "queue"
        )


def _check_templates(c) -> None:
    d = c.d
    for template_id, template in d.templates.items():
        loc = ("templates", template_id)
        c.refs((*loc, "request_types"), template.request_types, d.request_types, "request type")
        for channel, rendition in template.channels.items():
            here = (*loc, "channels", channel)
            if channel == "email" and rendition.subject is None:
                c.issues.append(Issue(here, "an email needs a subject"))
            if channel in ("sms", "phone") and rendition.subject is not None:
                c.issues.append(Issue((*here, "subject"), f"a {channel} message has no subject"))
            for field in ("subject", "body"):
                _check_placeholders(c, (*here, field), getattr(rendition, field))


def _check_materials(c) -> None:
    d = c.d
    for material_id, material in d.materials.items():
        loc = ("materials", material_id)
        c.refs((*loc, "request_types"), material.request_types, d.request_types, "request type")
        c.refs((*loc, "therapy_areas"), material.therapy_areas, d.therapy_areas, "therapy area")


def content_categories(d: ProgramDefinition) -> set[str]:
    return {t.content_category for t in d.request_types.values() if t.content_category}


def _check_content_categories(c) -> None:
    known = content_categories(c.d)
    for template_id, template in c.d.templates.items():
        category = template.content_category
        if category is not None and category not in known:
            c.issues.append(
                Issue(
                    ("templates", template_id, "content_category"),
                    f"unknown content category '{category}' (known: {', '.join(sorted(known))})",
                )
            )
    allowed = c.d.followup.clinician_outreach.content_categories or ()
    for category in allowed:
        if category not in known:
            c.issues.append(
                Issue(
                    ("followup", "clinician_outreach", "content_categories"),
                    f"unknown content category '{category}' (known: {', '.join(sorted(known))})",
                )
            )


def _check_placeholders(c, loc: Loc, text: str | None) -> None:
    answers = c.d.intake.answers
    for name in PLACEHOLDER_RE.findall(text or ""):
        answer = answers.get(name.removeprefix("answers.")) if name.startswith("answers.") else None
        if name in PLACEHOLDERS or (answer is not None and not answer.sensitive):
            continue
        if answer is not None:
            message = f"placeholder {{{name}}} is sensitive health data and cannot go in a message"
        else:
            message = (
                f"unknown placeholder {{{name}}} (known: {', '.join(PLACEHOLDERS)}, "
                "answers.<answer-id>)"
            )
        c.issues.append(Issue(loc, message))


def _template(c, loc: Loc, template_id: str | None, audience: str):
    """Resolve a template reference, reporting an unknown id or the wrong audience."""
    if template_id is None:
        return None
    template = c.d.templates.get(template_id)
    if template is None:
        c.ref(loc, template_id, c.d.templates, "template")
    elif template.audience != audience:
        c.issues.append(
            Issue(
                loc,
                f"template '{template_id}' is for audience "
                f"'{template.audience}', but this message goes to the {audience}",
            )
        )
    return template


def _check_followup(c) -> None:
    d, followup = c.d, c.d.followup
    ack = followup.acknowledge_referrer
    if ack is not None:
        loc = ("followup", "acknowledge_referrer", "template")
        template = _template(c, loc, ack.template, "referrer")
        if template is not None and "email" not in template.channels:
            c.issues.append(
                Issue(
                    loc,
                    f"template '{ack.template}' has no email rendition; "
                    "referrer acknowledgements go by email",
                )
            )

    first = followup.first_outreach
    loc = ("followup", "first_outreach")
    uses: list[tuple[Loc, str, str | None]] = []  # (path, template id, request type or None)
    if first.default_template is not None:
        uses.append(((*loc, "default_template"), first.default_template, None))
    for request_type, template_id in first.by_request_type.items():
        here = (*loc, "by_request_type", request_type)
        if request_type not in d.request_types:
            c.ref(here, request_type, d.request_types, "request type")
        uses.append((here, template_id, request_type))
    needed = outreach_channels(d)
    for here, template_id, request_type in uses:
        template = _template(c, here, template_id, "lead")
        if template is None:
            continue
        if request_type and template.request_types and request_type not in template.request_types:
            c.issues.append(
                Issue(
                    here,
                    f"template '{template_id}' is not approved for request type '{request_type}'",
                )
            )
        missing = sorted(needed - set(template.channels))
        if missing:
            c.issues.append(
                Issue(
                    here,
                    f"template '{template_id}' has no rendition for "
                    f"{', '.join(missing)}, a channel leads may be "
                    "contacted on",
                )
            )
    if first.default_template is None:
        for request_type in d.request_types:
            if request_type not in first.by_request_type:
                c.issues.append(
                    Issue(
                        loc,
                        f"no first-outreach template for request type "
                        f"'{request_type}': add it to by_request_type or "
                        "set default_template",
                    )
                )
    _check_retry(c)
    c.condition(("followup", "high_value"), followup.high_value)


def _check_retry(c) -> None:
    retry = c.d.followup.retry
    cadence = retry.cadence_days
    if cadence is None:
        return
    loc = ("followup", "retry", "cadence_days")
    if len(cadence) != retry.attempts:
        c.issues.append(Issue(loc, f"{len(cadence)} offsets for {retry.attempts} attempts"))
    elif cadence[0] != 0 or any(b <= a for a, b in zip(cadence, cadence[1:], strict=False)):
        c.issues.append(Issue(loc, "offsets start at 0 and increase"))
    elif cadence[-1] > retry.window_days:
        c.issues.append(
            Issue(
                loc, f"last attempt (day {cadence[-1]}) is after the {retry.window_days}-day window"
            )
        )


def _check_scheduling(c) -> None:
    scheduling = c.d.scheduling
    if scheduling is None:
        return
    loc = ("scheduling",)
    _template(c, (*loc, "confirmation_template"), scheduling.confirmation_template, "lead")
    _template(c, (*loc, "reminder_template"), scheduling.reminder_template, "lead")
    _template(c, (*loc, "change_template"), scheduling.change_template, "lead")
    _template(c, (*loc, "cancellation_template"), scheduling.cancellation_template, "lead")
    for type_id, kind in scheduling.appointment_types.items():
        c.refs(
            (*loc, "appointment_types", type_id, "request_types"),
            kind.request_types,
            c.d.request_types,
            "request type",
        )
    reminders = scheduling.reminders_hours_before
    if len(set(reminders)) != len(reminders):
        c.issues.append(Issue((*loc, "reminders_hours_before"), "duplicate reminder time"))
    no_show = scheduling.no_show
    _template(c, (*loc, "no_show", "reschedule_template"), no_show.reschedule_template, "lead")
    if no_show.offer_reschedule and not no_show.reschedule_template:
        c.issues.append(
            Issue(
                (*loc, "no_show", "reschedule_template"),
                "offer_reschedule needs the template of the offer",
            )
        )
    _templates_cover_bookers(c, scheduling)
    c.condition((*loc, "no_show", "manual_check_when"), no_show.manual_check_when)
    if no_show.manual_check_when is not None and not no_show.manual_check:
        c.issues.append(
            Issue(
                (*loc, "no_show", "manual_check_when"), "manual_check_when needs manual_check: true"
            )
        )


def _templates_cover_bookers(c, scheduling) -> None:
    """Every message an appointment sends must be approved for every request type that may
    book one: otherwise the send check refuses it for some leads (a no-show left without
    its offer, a booking without its confirmation)."""
    every = set(c.d.request_types)
    booking = set()
    for kind in scheduling.appointment_types.values():
        booking |= set(kind.request_types) if kind.request_types else every
    uses = {
        "confirmation_template": scheduling.confirmation_template,
        "change_template": scheduling.change_template,
        "cancellation_template": scheduling.cancellation_template,
        "reminder_template": scheduling.reminder_template,
    }
    if scheduling.no_show.offer_reschedule:
        uses["no_show.reschedule_template"] = scheduling.no_show.reschedule_template
    for key, template_id in uses.items():
        template = c.d.templates.get(template_id) if template_id else None
        if template is None or not template.request_types:
            continue
        left_out = sorted(booking - set(template.request_types))
        if left_out:
            c.issues.append(
                Issue(
                    ("scheduling", *key.split(".")),
                    f"template '{template_id}' is not approved for request type(s) "
                    f"{', '.join(left_out)}, which may book an appointment (limit the "
                    "appointment types' request_types, or use a template for all)",
                )
            )
