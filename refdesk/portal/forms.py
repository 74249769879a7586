"""The public intake form and the completion form, generated from a program definition.

The form checks shape only (types, lengths, choices, the fields a program marks required);
``referral_submit`` and ``referral_complete`` stay the one place that decides validity and
completeness, and their errors are put back onto the fields they name (``apply_errors``).
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Any

from django import forms
from django.utils import timezone

from refdesk.intake.labels import (
    CHANNEL_LABELS,
    METHOD_LABELS,
    lead_label,
)
from refdesk.intake.submissions import UTM_FIELDS, Submission
from refdesk.intake.validation import RECORDS_REQUESTED
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_intake import ConsentText, FieldSpec, LeadFieldSpec

HONEYPOT = "website"
REQUIRED_MESSAGE = "This is needed to accept the referral."

LEAD_MAX_LENGTHS = {"email": 254, "phone": 40, "country": 2, "postal_code": 20, "language": 35}
COMMON_TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
)


@cache
def timezone_choices() -> list:
    others = sorted(
        name
        for name in zoneinfo.available_timezones()
        if "/" in name
        and not name.startswith(("Etc/", "posix", "right/", "SystemV/"))
        and name not in COMMON_TIMEZONES
    )
    return [
        ("", "Choose a time zone"),
        ("United States", [(name, name.replace("_", " ")) for name in COMMON_TIMEZONES]),
        ("All time zones", [(name, name.replace("_", " ")) for name in others]),
    ]


def _help(help_text: str | None, example: str | None) -> str:
    parts = [help_text or ""]
    if example:
        parts.append(f"Example: {example}")
    return " ".join(part for part in parts if part)


def lead_form_field(name: str, spec: LeadFieldSpec, label: str, required: bool) -> forms.Field:
    common = {
        "label": label,
        "required": required,
        "help_text": _help(spec.help, spec.example),
        "error_messages": {"required": REQUIRED_MESSAGE},
    }
    if name == "preferred_contact":
        channels = spec.choices or ("phone", "email", "sms", "mail")
        return forms.ChoiceField(
            choices=[(c, CHANNEL_LABELS[c]) for c in channels], widget=forms.RadioSelect, **common
        )
    if name == "timezone":
        return forms.ChoiceField(choices=timezone_choices(), **common)
    if name == "birth_year":
        return forms.IntegerField(min_value=1900, max_value=timezone.localdate().year, **common)
    widget_attrs = {
        "email": {"autocomplete": "off", "inputmode": "email"},
        "phone": {"autocomplete": "off", "inputmode": "tel"},
    }.get(name, {"autocomplete": "off"})
    widget = forms.EmailInput if name == "email" else forms.TextInput
    return forms.CharField(
        max_length=LEAD_MAX_LENGTHS.get(name, 200), widget=widget(attrs=widget_attrs), **common
    )


def answer_form_fields(name: str, spec: FieldSpec, required: bool) -> dict[str, forms.Field]:
    """The field for one answer, plus a "records requested" box where the program allows it."""
    common = {
        "label": spec.label,
        "required": required and not spec.records_pending_allowed,
        "help_text": _help(spec.help, spec.example),
        "error_messages": {"required": REQUIRED_MESSAGE},
    }
    if spec.type == "integer":
        field = forms.IntegerField(min_value=spec.min, max_value=spec.max, **common)
    elif spec.type == "boolean":
        field = forms.ChoiceField(
            choices=[("", "Not known"), ("yes", "Yes"), ("no", "No")], **common
        )
    elif spec.type == "choice":
        choices = [(c.value, c.label) for c in spec.choices]
        field = forms.ChoiceField(choices=[("", "Choose one")] + choices, **common)
    elif spec.type == "date":
        field = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    elif spec.type == "text":
        field = forms.CharField(
            max_length=10000, widget=forms.Textarea(attrs={"rows": 4}), **common
        )
    else:
        field = forms.CharField(max_length=500, **common)
    fields = {f"answer_{name}": field}
    if spec.records_pending_allowed:
        fields[f"answer_{name}_pending"] = forms.BooleanField(
            label=f"Records requested ({spec.label.lower()})", required=False
        )
    return fields


def answer_value(spec: FieldSpec, value: Any, pending: bool) -> Any:
    if pending:
        return RECORDS_REQUESTED
    if value in (None, ""):
        return None
    if spec.type == "boolean":
        return value == "yes"
    if spec.type == "date":
        return value.isoformat()
    return value


def field_for_error(path: str) -> str | None:
    """The form field a service error path names (``lead.email`` -> ``lead_email``)."""
    if path.startswith("lead.") and path != "lead.kind":
        return "lead_" + path[5:]
    if path.startswith("answers."):
        return "answer_" + path[8:]
    return {
        "request_type": "request_type",
        "lead.kind": "request_type",
        "therapy_area": "therapy_area",
        "consent": "consent_granted",
        "consent.granted": "consent_granted",
        "consent.purposes": "consent_granted",
        "consent.text_version": "consent_granted",
        "consent.channels": "consent_channels",
        "consent.method": "consent_method",
    }.get(path)


class ServiceErrorsMixin:
    def apply_errors(self, errors: list[dict]) -> None:
        """Put each service error on its field; anything else goes to the top of the form."""
        for item in errors:
            name = field_for_error(item["field"])
            self.add_error(name if name in self.fields else None, item["message"])

    def error_links(self) -> list[tuple[str, str, str]]:
        """(anchor id, field label, message) for the error summary at the top of the page."""
        links = []
        for name, errors in self.errors.items():
            if name == "__all__":
                links += [("", "", str(message)) for message in errors]
                continue
            bound = self[name]
            anchor = bound.auto_id + ("_0" if bound.field.widget.use_fieldset else "")
            links += [(anchor, bound.label, str(message)) for message in errors]
        return links


@dataclass(frozen=True)
class Section:
    title: str
    names: tuple[str, ...]


class IntakeForm(ServiceErrorsMixin, forms.Form):
    """The web intake form for one referrer's program and source."""

    def __init__(
        self,
        *args,
        definition: ProgramDefinition,
        source_slug: str,
        consent_text: ConsentText | None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.definition, self.consent_text = definition, consent_text
        source = definition.sources[source_slug]
        allowed = definition.request_types
        if source.request_types != "all":
            allowed = {k: v for k, v in allowed.items() if k in source.request_types}
        if source.lead_kinds:
            allowed = {k: v for k, v in allowed.items() if v.lead_kind in source.lead_kinds}
        self.request_types = allowed
        request_choices = [(k, v.label) for k, v in allowed.items()]
        self.fields["request_type"] = forms.ChoiceField(
            label="Type of request",
            choices=request_choices
            if len(request_choices) == 1
            else [("", "Choose one")] + request_choices,
            help_text=" ".join(f"{v.label}: {v.description}" for v in allowed.values()),
            error_messages={"required": REQUIRED_MESSAGE},
        )
        request_names = ["request_type"]
        therapy = definition.intake.therapy_area
        if therapy and therapy.ask:
            self.fields["therapy_area"] = forms.ChoiceField(
                label="Therapy area",
                choices=[("", "Not known")]
                + [(k, v.label) for k, v in definition.therapy_areas.items()],
                required=therapy.required,
                help_text=therapy.help or "",
            )
            request_names.append("therapy_area")
        for name, spec in definition.intake.lead_fields.items():
            label = lead_label(definition, name)
            # A time zone the server can work out from the phone number or country is not
            # forced on the referrer; if it cannot, the referral asks for it as a missing item.
            required = spec.required and not (
                name == "timezone" and definition.intake.timezone_from_location
            )
            self.fields[f"lead_{name}"] = lead_form_field(name, spec, label, required)
        if "lead_specialty" in self.fields and definition.target.specialties:
            self.fields["lead_specialty"].widget.attrs["list"] = "specialties"
        answer_names = []
        for name, spec in definition.intake.answers.items():
            fields = answer_form_fields(name, spec, spec.required)
            self.fields.update(fields)
            answer_names += list(fields)
        consent_names = []
        if consent_text is not None:
            rules = definition.consent
            self.fields["consent_granted"] = forms.BooleanField(
                label="The person agrees to the consent text above", required=False
            )
            self.fields["consent_channels"] = forms.MultipleChoiceField(
                label="Channels the person agrees to be contacted on",
                choices=[(c, CHANNEL_LABELS[c]) for c in rules.channels],
                widget=forms.CheckboxSelectMultiple,
                required=False,
            )
            self.fields["consent_method"] = forms.ChoiceField(
                label="How was consent given?",
                choices=[(m, METHOD_LABELS[m]) for m in rules.methods],
                widget=forms.RadioSelect,
                required=False,
            )
            self.fields["consent_text_version"] = forms.CharField(
                widget=forms.HiddenInput, initial=consent_text.version, max_length=40
            )
            consent_names = ["consent_granted", "consent_channels", "consent_method"]
        for key in UTM_FIELDS:
            self.fields[key] = forms.CharField(widget=forms.HiddenInput, required=False)
        self.fields[HONEYPOT] = forms.CharField(
            label="Leave this field empty",
            required=False,
            widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
        )
        self.sections = [
            Section("The request", tuple(request_names)),
            Section(
                "The person referred", tuple(f"lead_{n}" for n in definition.intake.lead_fields)
            ),
        ]
        if answer_names:
            self.sections.append(Section("Questions", tuple(answer_names)))
        if consent_names:
            self.sections.append(Section("Consent", tuple(consent_names)))

    def section_fields(self):
        return [
            (section.title, [self[name] for name in section.names]) for section in self.sections
        ]

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get(HONEYPOT, "").strip())

    def utm(self) -> dict[str, str]:
        # Campaign tags are attribution, not input a person can fix: shorten, never reject.
        return {
            key: str(self.data.get(key, "")).replace("\x00", "").strip()[:100] for key in UTM_FIELDS
        }

    def to_submission(self) -> Submission:
        data = self.cleaned_data
        lead = {
            name: data.get(f"lead_{name}")
            for name in self.definition.intake.lead_fields
            if data.get(f"lead_{name}") not in (None, "")
        }
        answers = {}
        for name, spec in self.definition.intake.answers.items():
            value = answer_value(
                spec, data.get(f"answer_{name}"), data.get(f"answer_{name}_pending")
            )
            if value is not None:
                answers[name] = value
        therapy = self.definition.intake.therapy_area
        therapy_area = data.get("therapy_area") or (therapy.default if therapy else None) or ""
        consent = None
        if self.consent_text is not None and data.get("consent_granted"):
            consent = {
                "granted": True,
                "purposes": list(self.consent_text.purposes),
                "channels": list(data.get("consent_channels") or []),
                "method": data.get("consent_method") or "",
                "text_version": data.get("consent_text_version") or "",
            }
        return Submission(
            request_type=data["request_type"],
            lead=lead,
            therapy_area=therapy_area,
            answers=answers,
            consent=consent,
            utm=self.utm(),
        )


class CompletionForm(ServiceErrorsMixin, forms.Form):
    """Only the items a ``needs_info`` referral is missing; any subset may be supplied."""

    def __init__(self, *args, definition: ProgramDefinition, missing: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.items: list[tuple[str, str]] = []  # (group, name)
        for item in missing:
            group, _, name = item.partition(".")
            if group == "lead":
                spec = definition.intake.lead_fields.get(name) or LeadFieldSpec()
                label = lead_label(definition, name)
                self.fields[f"lead_{name}"] = lead_form_field(name, spec, label, False)
            elif group == "answers" and name in definition.intake.answers:
                self.fields.update(answer_form_fields(name, definition.intake.answers[name], False))
            else:
                continue
            self.items.append((group, name))
        if "lead_specialty" in self.fields and definition.target.specialties:
            self.fields["lead_specialty"].widget.attrs["list"] = "specialties"

    def clean(self):
        data = super().clean()
        if not any(value not in (None, "", False) for value in data.values()):
            raise forms.ValidationError("Give at least one of the missing items.")
        return data

    def to_updates(self) -> tuple[dict, dict]:
        data = self.cleaned_data
        lead, answers = {}, {}
        for group, name in self.items:
            if group == "lead":
                if data.get(f"lead_{name}") not in (None, ""):
                    lead[name] = data[f"lead_{name}"]
                continue
            spec = self.definition.intake.answers[name]
            value = answer_value(
                spec, data.get(f"answer_{name}"), data.get(f"answer_{name}_pending")
            )
            if value is not None:
                answers[name] = value
        return lead, answers
