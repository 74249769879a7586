"""Field-level checks for a submitted lead and its answers, against one program definition.

Pure functions: each returns a list of ``{"field", "code", "message"}`` errors. Messages name the
problem, never the submitted value (it may be patient data).
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from importlib import resources
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezones

from refdesk.core.text import text_check, text_error
from refdesk.core.timezones import country_names
from refdesk.programs.engine.facts import RECORDS_REQUESTED, npi_check
from refdesk.programs.schema import ProgramDefinition


def error(field: str, code: str, message: str) -> dict:
    return {"field": field, "code": code, "message": message}


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def clean_lead(lead: dict[str, Any]) -> tuple[dict[str, Any], list[dict]]:
    """Normalise the built-in lead fields; return (clean lead, errors)."""
    errors: list[dict] = []
    clean: dict[str, Any] = {}
    for key, value in lead.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str):
            # The text rule first (refdesk.core.text): a field holding a control, direction or
            # invisible character gets that one error and no other check.
            value, problem = text_check(value.strip())
            if problem is not None:
                errors.append(text_error(f"lead.{key}", problem))
                continue
        clean[key] = value
    country = str(clean.get("country", "US")).upper()
    if "country" in clean:
        clean["country"] = country
        if country not in country_names():  # ISO 3166-1 alpha-2, from tzdata's iso3166.tab
            errors.append(
                error(
                    "lead.country",
                    "invalid_country",
                    "Use an ISO 3166-1 two-letter country code such as US.",
                )
            )
            country = "US"  # only to read the phone number: the referral is refused anyway
    if "email" in clean:
        try:
            clean["email"] = validate_email(
                str(clean["email"]), check_deliverability=False
            ).normalized
        except EmailNotValidError:
            errors.append(
                error("lead.email", "invalid_email", "This is not a valid email address.")
            )
    if "phone" in clean:
        try:
            number = phonenumbers.parse(str(clean["phone"]), country)
            if not phonenumbers.is_valid_number(number):
                raise phonenumbers.NumberParseException(0, "invalid")
            clean["phone"] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        except phonenumbers.NumberParseException:
            errors.append(
                error(
                    "lead.phone",
                    "invalid_phone",
                    "This is not a valid phone number for the lead's country.",
                )
            )
    if "timezone" in clean and clean["timezone"] not in _timezones():
        errors.append(
            error(
                "lead.timezone",
                "unknown_timezone",
                "Use an IANA time zone such as America/Chicago.",
            )
        )
    # The engine's check (the npi_check fact), so intake and routing can never disagree.
    if "npi" in clean and npi_check(clean["npi"]) != "valid":
        errors.append(
            error("lead.npi", "invalid_npi", "An NPI has 10 digits and a valid check digit.")
        )
    if "birth_year" in clean:
        year = clean["birth_year"]
        if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 2100:
            errors.append(
                error(
                    "lead.birth_year",
                    "invalid_birth_year",
                    "Give the year of birth as four digits.",
                )
            )
    if "preferred_contact" in clean and clean["preferred_contact"] not in (
        "phone",
        "email",
        "sms",
        "mail",
    ):
        errors.append(
            error("lead.preferred_contact", "invalid_choice", "Choose phone, email, sms or mail.")
        )
    return clean, errors


def clean_answers(
    definition: ProgramDefinition, answers: dict[str, Any]
) -> tuple[dict[str, Any], list[dict]]:
    """Check each answer against its question's type; unknown questions are errors."""
    errors: list[dict] = []
    clean: dict[str, Any] = {}
    specs = definition.intake.answers
    for key, value in answers.items():
        field = f"answers.{key}"
        spec = specs.get(key)
        if spec is None:
            errors.append(error(field, "unknown_answer", "This program does not ask this."))
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if value == RECORDS_REQUESTED and spec.records_pending_allowed:
            clean[key] = value
            continue
        if isinstance(value, str):
            value, characters = text_check(value.strip(), multiline=spec.type == "text")
            if characters is not None:
                errors.append(text_error(field, characters))
                continue
        problem = _type_problem(spec, value)
        if problem:
            errors.append(error(field, problem[0], problem[1]))
        else:
            clean[key] = value
    return clean, errors


def _type_problem(spec, value) -> tuple[str, str] | None:
    if spec.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            return "invalid_integer", "Give a whole number."
        if spec.min is not None and value < spec.min:
            return "too_small", f"Must be at least {spec.min}."
        if spec.max is not None and value > spec.max:
            return "too_large", f"Must be at most {spec.max}."
    elif spec.type == "boolean":
        if not isinstance(value, bool):
            return "invalid_boolean", "Answer true or false."
    elif spec.type == "choice":
        if value not in {choice.value for choice in spec.choices}:
            return "invalid_choice", "Choose one of the listed options."
    elif not isinstance(value, str):
        return "invalid_text", "Give text."
    elif spec.type == "string" and len(value) > 500:
        return "too_long", "Keep it under 500 characters."
    elif len(value) > 10000:
        return "too_long", "Keep it under 10,000 characters."
    return None


@cache
def _single_zone_countries() -> dict[str, str]:
    """Countries with exactly one IANA zone (from tzdata's zone.tab): GB -> Europe/London."""
    zones: dict[str, list[str]] = {}
    table = resources.files("tzdata").joinpath("zoneinfo/zone.tab").read_text(encoding="utf-8")
    for line in table.splitlines():
        if line and not line.startswith("#"):
            country, _coordinates, zone = line.split("\t")[:3]
            zones.setdefault(country, []).append(zone)
    return {country: names[0] for country, names in zones.items() if len(names) == 1}


def infer_timezone(lead: dict[str, Any]) -> str | None:
    """The lead's time zone when their phone number or country points to exactly one."""
    if "phone" in lead:
        try:
            number = phonenumbers.parse(str(lead["phone"]), lead.get("country") or "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is not None:
            zones = phone_timezones.time_zones_for_geographical_number(number)
            if len(zones) == 1 and zones[0] in _timezones():
                return zones[0]
    return _single_zone_countries().get(str(lead.get("country", "")).upper())
