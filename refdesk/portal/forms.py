"""The public intake form and the completion form, generated from a program definition.

The form checks shape (types, lengths, choices, the fields a program marks required) and, in
the same round, everything ``refdesk.intake.submissions`` would refuse (consent, the contact
rule, values only the service checks): a referrer sees every problem at once, never one more
after fixing the first. ``referral_submit`` and ``referral_complete`` stay the one place that
decides validity and completeness; their errors are put back onto the fields they name
(``apply_errors``), in words for a person filling in a form (``WEB_MESSAGES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils import timezone

from refdesk.core.timezones import country_timezone_choices
from refdesk.intake.labels import (
    CHANNEL_LABELS,
    METHOD_LABELS,
    lead_label,
)
from refdesk.intake.submissions import (
    CONTACT_DETAIL_MESSAGES,
    TIMEZONE_NEEDED_MESSAGE,
    UTM_FIELDS,
    Submission,
    new_submission_check,
)
from refdesk.intake.validation import RECORDS_REQUESTED, infer_timezone
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.schema_intake import ConsentText, FieldSpec, LeadFieldSpec
from refdesk.referrers.models import Referrer

HONEYPOT = "website"

LEAD_MAX_LENGTHS = {"email": 254, "phone": 40, "country": 2, "postal_code": 20, "language": 35}

# The service's messages are written for API clients (they name codes); on the form the same
# problems are said in words a referrer can act on. Keyed by (field path, code).
WEB_MESSAGES = {
    ("consent", "consent_required"): "Tick the box to confirm the person agrees to the consent "
    "text: the program cannot accept the referral without it.",
    ("consent.granted", "consent_required"): "Tick the box to confirm the person agrees to the "
    "consent text: the program cannot accept the referral without it.",
    ("consent.channels", "invalid_channel"): "Choose at least one way the person agrees to be "
    "contacted.",
    ("consent.method", "invalid_method"): "Choose how the person gave their consent.",
    ("consent.text_version", "unknown_consent_text"): "The consent text changed while this page "
    "was open: read the text above to the person again, then send the referral.",
}


# Messages that already say which field they are about: the error summary shows them alone.
SPECIFIC_MESSAGES = (
    set(WEB_MESSAGES.values()) | set(CONTACT_DETAIL_MESSAGES.values()) | {TIMEZONE_NEEDED_MESSAGE}
)


class HintedRadioSelect(forms.RadioSelect):
    """Radios with a hint under each option (GOV.UK's "radios with hints"), the hint tied to
    its radio by ``aria-describedby``."""

    option_template_name = "intake/widgets/hinted_radio_option.html"

    def __init__(self, *args, hints: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hints = dict(hints or {})

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["hint"] = self.hints.get(str(value), "")
        if option["hint"] and option["attrs"].get("id"):
            option["attrs"]["aria-describedby"] = option["attrs"]["id"] + "_hint"
        return option


def _lower_first(label: str) -> str:
    """ "Given name" -> "given name"; "NPI (...)" and "ECOG ..." keep their capitals."""
    if len(label) > 1 and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def required_message(label: str, *, choose: bool) -> str:
    """A specific message per field, as GOV.UK asks ("Enter the given name")."""
    return f"{'Choose' if choose else 'Enter'} the {_lower_first(label)}."


def fixed_choice(field: forms.ChoiceField) -> forms.ChoiceField:
    """A choice with one option is no choice: shown as text, its value taken as given."""
    (value, label), *_ = [c for c in field.choices if c[0] != ""]
    field.widget = forms.HiddenInput()
    field.disabled = True
    field.initial = value
    field.fixed_label = label
    return field


def _program_countries(definition: ProgramDefinition) -> tuple[str, ...]:
    """The countries whose time zones a program's pages list first: its target regions that
    are country codes (US when none is)."""
    regions = tuple(r.upper() for r in definition.target.regions if len(r) == 2 and r.isalpha())
    return regions or ("US",)


def _help(help_text: str | None, example: str | None) -> str:
    parts = [help_text or ""]
    if example:
        parts.append(f"Example: {example}")
    return " ".join(part for part in parts if part)


def lead_form_field(
    name: str, spec: LeadFieldSpec, label: str, required: bool, definition: ProgramDefinition
) -> forms.Field:
    choose = name in ("preferred_contact", "timezone")
    common = {
        "label": label,
        "required": required,
        "help_text": _help(spec.help, spec.example),
        "error_messages": {"required": required_message(label, choose=choose)},
    }
    if name == "preferred_contact":
        channels = spec.choices or ("phone", "email", "sms", "mail")
        return forms.ChoiceField(
            choices=[(c, CHANNEL_LABELS[c]) for c in channels], widget=forms.RadioSelect, **common
        )
    if name == "timezone":
        inferable = definition.intake.timezone_from_location
        empty = (
            "Work it out from the phone number or country" if inferable else "Choose a time zone"
        )
        common["help_text"] = spec.help or ""  # the example is an IANA name; the list says more
        return forms.ChoiceField(
            choices=country_timezone_choices(_program_countries(definition), empty), **common
        )
    if name == "birth_year":
        return forms.IntegerField(
            min_value=1900,
            max_value=timezone.localdate().year,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            **common,
        )
    widget_attrs = {
        "email": {"autocomplete": "off", "inputmode": "email", "spellcheck": "false"},
        "phone": {"autocomplete": "off", "inputmode": "tel"},
    }.get(name, {"autocomplete": "off"})
    widget = {"email": forms.EmailInput, "phone": TelInput}.get(name, forms.TextInput)
    return forms.CharField(
        max_length=LEAD_MAX_LENGTHS.get(name, 200), widget=widget(attrs=widget_attrs), **common
    )


class TelInput(forms.TextInput):
    input_type = "tel"


def answer_form_fields(name: str, spec: FieldSpec, required: bool) -> dict[str, forms.Field]:
    """The field for one answer, plus a "records requested" box where the program allows it."""
    choose = spec.type in ("boolean", "choice", "date")
    common = {
        "label": spec.label,
        "required": required and not spec.records_pending_allowed,
        "help_text": _help(spec.help, spec.example),
        "error_messages": {"required": required_message(spec.label, choose=choose)},
    }
    if spec.type == "integer":
        field = forms.IntegerField(
            min_value=spec.min,
            max_value=spec.max,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            **common,
        )
    elif spec.type == "boolean":
        field = forms.ChoiceField(
            choices=[("", "Not known"), ("yes", "Yes"), ("no", "No")], **common
        )
    elif spec.type == "choice":
        choices = [(c.value, c.label) for c in spec.choices]
        field = forms.ChoiceField(choices=[("", "Choose one")] + choices, **common)
        if len(choices) == 1:
            field = fixed_choice(field)
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


def error_path(name: str, fields) -> str:
    """The submission path a form field stands for (``lead_email`` -> ``lead.email``)."""
    if name.startswith("lead_"):
        return "lead." + name[5:]
    if name.startswith("answer_"):
        answer = name[7:]
        if answer.endswith("_pending") and f"answer_{answer[:-8]}" in fields:
            answer = answer[:-8]  # the "records requested" box of that answer
        return "answers." + answer
    if name.startswith("consent_"):
        return "consent." + name[8:]
    return "" if name == NON_FIELD_ERRORS else name


class ServiceErrorsMixin:
    def apply_errors(self, errors: list[dict]) -> None:
        """Put each service error on its field, in the form's words; a field that already has
        an error keeps only that one; anything else goes to the top of the form."""
        shown = self.__dict__.setdefault("_service_errors", {})
        for item in errors:
            name = field_for_error(item["field"])
            message = WEB_MESSAGES.get((item["field"], item["code"]), item["message"])
            if name in self.fields:
                if name not in self.errors:
                    self.add_error(name, message)
                    shown.setdefault(name, []).append((item["field"], item["code"]))
            elif message not in self.non_field_errors():
                self.add_error(None, message)
                shown.setdefault(NON_FIELD_ERRORS, []).append((item["field"], item["code"]))

    def rejection_errors(self) -> list[tuple[str, str]]:
        """(field path, code) of each error the page shows, for the rejection statistics: the
        service's own path and code where the service found it, else the field's path and
        Django's code (``required``, ``invalid``, ``max_length``, ``min_value``, ...)."""
        shown = self.__dict__.get("_service_errors", {})
        pairs: list[tuple[str, str]] = []
        for name, problems in self.errors.as_data().items():
            pairs += shown.get(name, [])
            path = error_path(name, self.fields)
            # Then Django's own errors, if any: a service error is only added to a field that
            # had none, so a field holds one kind or the other.
            pairs += [
                (path, problem.code or "invalid")
                for problem in problems[len(shown.get(name, [])) :]
            ]
        return pairs

    def shown_fields(self) -> list:
        """The fields a person sees, in page order: visible ones and fixed (one-choice) ones."""
        return [
            bound
            for bound in self
            if not bound.is_hidden or getattr(bound.field, "fixed_label", None)
        ]

    def _page_order(self) -> list[str]:
        return [bound.name for bound in self.shown_fields()]

    def error_links(self) -> list[tuple[str, str, str]]:
        """(anchor id, field label, message) for the error summary at the top of the page, in
        the order the fields appear. A message that names its field ("Enter the given name")
        stands alone; a general one ("Enter a whole number") is prefixed with the label."""
        links = [("", "", str(message)) for message in self.errors.get("__all__", ())]
        order = self._page_order()
        named = sorted(
            (name for name in self.errors if name != "__all__"),
            key=lambda name: order.index(name) if name in order else len(order),
        )
        for name in named:
            bound = self[name]
            anchor = bound.auto_id + ("_0" if bound.field.widget.use_fieldset else "")
            own = bound.field.error_messages.get("required")
            for message in self.errors[name]:
                specific = str(message) == own or str(message) in SPECIFIC_MESSAGES
                label = "" if specific else bound.label
                links.append((anchor, label, str(message)))
        return links


@dataclass(frozen=True)
class Section:
    title: str
    names: tuple[str, ...]


class IntakeForm(ServiceErrorsMixin, forms.Form):
    """The web intake form for one referrer's program and source.

    With ``referrer`` given, ``clean`` also runs the service's check on what was typed
    (``new_submission_check``), so consent, the contact rule and the values only the service
    checks are reported with the field errors, in the first round.
    """

    def __init__(
        self,
        *args,
        definition: ProgramDefinition,
        source_slug: str,
        consent_text: ConsentText | None,
        referrer: Referrer | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.definition, self.consent_text, self.referrer = definition, consent_text, referrer
        source = definition.sources[source_slug]
        allowed = definition.request_types
        if source.request_types != "all":
            allowed = {k: v for k, v in allowed.items() if k in source.request_types}
        if source.lead_kinds:
            allowed = {k: v for k, v in allowed.items() if v.lead_kind in source.lead_kinds}
        self.request_types = allowed
        request_choices = [(k, v.label) for k, v in allowed.items()]
        request_field = forms.ChoiceField(
            label="Type of request",
            choices=request_choices,
            widget=HintedRadioSelect(hints={k: v.description for k, v in allowed.items()}),
            error_messages={"required": required_message("Type of request", choose=True)},
        )
        if len(request_choices) == 1:
            request_field = fixed_choice(request_field)
            request_field.help_text = next(iter(allowed.values())).description
        self.fields["request_type"] = request_field
        request_names = ["request_type"]
        therapy = definition.intake.therapy_area
        if therapy and therapy.ask:
            areas = [(k, v.label) for k, v in definition.therapy_areas.items()]
            self.fields["therapy_area"] = forms.ChoiceField(
                label="Therapy area",
                choices=[("", "Not known")] + areas,
                required=therapy.required,
                help_text=therapy.help or "",
                error_messages={"required": required_message("Therapy area", choose=True)},
            )
            if therapy.required and len(areas) == 1:
                self.fields["therapy_area"] = fixed_choice(self.fields["therapy_area"])
            request_names.append("therapy_area")
        for name, spec in definition.intake.lead_fields.items():
            label = lead_label(definition, name)
            # A time zone the server can work out from the phone number or country is not
            # forced on the referrer; when it cannot and the person is to be called, the
            # contact rule asks for it (``contact_errors``).
            required = spec.required and not (
                name == "timezone" and definition.intake.timezone_from_location
            )
            self.fields[f"lead_{name}"] = lead_form_field(name, spec, label, required, definition)
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

    def _page_order(self) -> list[str]:
        return [name for section in self.sections for name in section.names]

    def extra_hidden_fields(self) -> list:
        """Hidden inputs outside the sections (campaign tags, the consent text version)."""
        in_sections = set(self._page_order())
        return [bound for bound in self.hidden_fields() if bound.name not in in_sections]

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get(HONEYPOT, "").strip())

    def clean(self):
        data = super().clean()
        if self.referrer is None or self.is_bot:
            return data
        self._work_out_timezone(data)
        _lead, _answers, _missing, errors = new_submission_check(
            self.definition, self.referrer, self.to_submission()
        )
        self.apply_errors(errors)
        return self.cleaned_data

    def _work_out_timezone(self, data: dict) -> None:
        """An empty time zone the phone number or country points to is chosen on the page too,
        so a referrer fixing another field sees what will be used."""
        field = self.fields.get("lead_timezone")
        if field is None or data.get("lead_timezone") or "lead_timezone" in self.errors:
            return
        if not self.definition.intake.timezone_from_location:
            return
        lead = {
            key: data[f"lead_{key}"]
            for key in ("phone", "country")
            if data.get(f"lead_{key}") not in (None, "")
        }
        inferred = infer_timezone(lead) if lead else None
        if inferred and any(
            inferred == value
            for _group, options in field.choices
            if isinstance(options, list | tuple)
            for value, _label in options
        ):
            data["lead_timezone"] = inferred
            self.data = self.data.copy()
            self.data["lead_timezone"] = inferred

    def utm(self) -> dict[str, str]:
        # Campaign tags are attribution, not input a person can fix: shorten, never reject.
        return {
            key: str(self.data.get(key, "")).replace("\x00", "").strip()[:100] for key in UTM_FIELDS
        }

    def to_submission(self) -> Submission:
        """What was typed, as the service takes it; fields with errors are left out."""
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
            request_type=data.get("request_type") or "",
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
                self.fields[f"lead_{name}"] = lead_form_field(name, spec, label, False, definition)
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
