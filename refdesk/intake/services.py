"""``referral_submit`` and the lifecycle services. Every write is audited in its transaction.

Routing, qualification and prescreen decisions arrive with the program engine (issue 4); until
then a referral stays ``received`` unless it is incomplete (``needs_info``) or a duplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from refdesk.audit.services import audit_batch, audit_record
from refdesk.consent.models import ConsentRecord
from refdesk.core import sql
from refdesk.core.crypto import email_index, phone_index
from refdesk.core.errors import ApplicationError, PermissionDenied
from refdesk.core.errors import ValidationFailed as ValidationFailedError
from refdesk.core.references import new_referral_reference
from refdesk.intake.choices import Outcome, Stage
from refdesk.intake.missing import missing_items_record
from refdesk.intake.models import Referral
from refdesk.intake.validation import clean_answers, clean_lead, error, infer_timezone
from refdesk.programs.conditions import evaluate
from refdesk.programs.models import ProgramVersion
from refdesk.programs.schema import ProgramDefinition
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer


def _active_version(program_id: int) -> ProgramVersion | None:
    """The program's active version (id, number, hash), read now; intake's hot path."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.id, v.number, v.content_hash FROM programs_program p "
            "JOIN programs_programversion v ON v.id = p.active_version_id WHERE p.id = %s",
            [program_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return sql.loaded(
        ProgramVersion, id=row[0], number=row[1], content_hash=row[2], program_id=program_id
    )


@dataclass
class Submission:
    """What a referrer sends, whatever the interface (form, API, CSV row)."""

    request_type: str
    lead: dict[str, Any]
    lead_kind: str = ""
    therapy_area: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    # {"granted", "purposes", "channels", "method", "text_version"} or None when not given.
    consent: dict[str, Any] | None = None
    utm: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SubmitResult:
    referral: Referral
    created: bool  # False: the same client_ref was already submitted; nothing new was written


UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


def _check_submission(
    definition: ProgramDefinition, referrer: Referrer, submission: Submission
) -> tuple[dict, dict, list[str], list[dict]]:
    """Validate against the program: returns (lead, answers, missing items, errors)."""
    errors: list[dict] = []
    source = definition.sources.get(referrer.source.slug)
    if source is None:
        errors.append(error("source", "unknown_source", "This source is not in the program."))
        return {}, {}, [], errors
    request_type = definition.request_types.get(submission.request_type)
    if request_type is None:
        errors.append(
            error("request_type", "unknown_request_type", "This program has no such request type.")
        )
    elif source.request_types != "all" and submission.request_type not in source.request_types:
        errors.append(
            error(
                "request_type",
                "request_type_not_accepted",
                "This source may not send this request type.",
            )
        )
    lead_kind = submission.lead_kind or (request_type.lead_kind if request_type else "")
    if request_type and lead_kind != request_type.lead_kind:
        errors.append(
            error(
                "lead.kind",
                "lead_kind_mismatch",
                f"This request type is about a {request_type.lead_kind} lead.",
            )
        )
    if submission.therapy_area and submission.therapy_area not in definition.therapy_areas:
        errors.append(
            error("therapy_area", "unknown_therapy_area", "This program has no such therapy area.")
        )
    lead, lead_errors = clean_lead(submission.lead)
    if "timezone" not in lead and definition.intake.timezone_from_location:
        inferred = infer_timezone(lead)
        if inferred:
            lead["timezone"] = inferred
    answers, answer_errors = clean_answers(definition, submission.answers)
    errors += lead_errors + answer_errors
    errors += _check_consent(definition, lead_kind, submission.consent)

    facts = {
        "request_type": submission.request_type,
        "therapy_area": submission.therapy_area,
        "source": referrer.source.slug,
        "lead_kind": lead_kind,
        "preferred_contact": lead.get("preferred_contact"),
        "country": lead.get("country"),
        "specialty": lead.get("specialty"),
        "answers": answers,
    }
    missing = []
    for name, spec in definition.intake.lead_fields.items():
        needed = spec.required or (
            spec.required_when is not None and evaluate(spec.required_when, facts)
        )
        if needed and name not in lead:
            missing.append(f"lead.{name}")
    preferred = lead.get("preferred_contact")
    contact_field = {"sms": "phone"}.get(preferred, preferred)
    if contact_field in ("phone", "email") and contact_field not in lead:
        missing.append(f"lead.{contact_field}")
    for name, spec in definition.intake.answers.items():
        needed = spec.required or (
            spec.required_when is not None and evaluate(spec.required_when, facts)
        )
        if needed and name not in answers:
            missing.append(f"answers.{name}")
    return lead, answers, sorted(set(missing)), errors


def _check_consent(
    definition: ProgramDefinition, lead_kind: str, consent: dict[str, Any] | None
) -> list[dict]:
    rules = definition.consent
    if consent is None:
        if rules and rules.required_at_intake and lead_kind in rules.for_lead_kinds:
            return [
                error(
                    "consent",
                    "consent_required",
                    "This program needs the lead's consent before it can accept them.",
                )
            ]
        return []
    if rules is None:
        return [error("consent", "consent_not_applicable", "This program does not take consent.")]
    errors = []
    if (
        rules.required_at_intake
        and lead_kind in rules.for_lead_kinds
        and not consent.get("granted")
    ):
        errors.append(
            error(
                "consent.granted",
                "consent_required",
                "This program needs the lead's consent before it can accept them.",
            )
        )
    published = {text.version for text in rules.texts}
    if consent.get("text_version") not in published:
        errors.append(
            error(
                "consent.text_version",
                "unknown_consent_text",
                f"Use a published consent text version: {', '.join(sorted(published))}.",
            )
        )
    unknown_purposes = set(consent.get("purposes") or ()) - set(rules.purposes)
    if unknown_purposes or (consent.get("granted") and not consent.get("purposes")):
        errors.append(
            error(
                "consent.purposes",
                "invalid_purpose",
                f"Purposes must be among: {', '.join(rules.purposes)}.",
            )
        )
    unknown_channels = set(consent.get("channels") or ()) - set(rules.channels)
    if unknown_channels or (consent.get("granted") and not consent.get("channels")):
        errors.append(
            error(
                "consent.channels",
                "invalid_channel",
                f"Channels must be among: {', '.join(rules.channels)}.",
            )
        )
    if consent.get("method") not in rules.methods:
        errors.append(
            error(
                "consent.method",
                "invalid_method",
                f"Method must be one of: {', '.join(rules.methods)}.",
            )
        )
    return errors


# One statement, two index seeks: each branch is fully covered by its own index,
# (program, email_index | phone_index, received_at), whatever the planner's statistics say (an OR
# of the two lets SQLite without ANALYZE scan the program's whole window instead).
_DUPLICATE_BRANCH = (
    "SELECT id, received_at FROM intake_referral "
    "WHERE program_id = %s AND {column} = %s AND received_at >= %s "
    "AND duplicate_of_id IS NULL AND outcome <> %s"
)


def _find_duplicate(*, program_id: int, emails: str, phones: str, since: datetime):
    """The earliest original referral of the same lead in the window, if any."""
    branches, params = [], []
    since_db = connection.ops.adapt_datetimefield_value(since)
    for column, value in (("email_index", emails), ("phone_index", phones)):
        if value:
            branches.append(_DUPLICATE_BRANCH.format(column=column))
            params += [program_id, value, since_db, Outcome.ENTERED_IN_ERROR]
    if not branches:
        return None
    statement = " UNION ALL ".join(branches) + " ORDER BY received_at LIMIT 1"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    # Most referrals are new: only a duplicate pays for loading the original.
    return None if row is None else Referral.objects.get(pk=row[0])


def _unused_reference() -> str:
    """A fresh reference not yet taken.

    References carry 34 random bits, so at 100,000 referrals a repeat somewhere is likely (the
    birthday bound) even though any one draw almost never repeats. Checking first keeps the
    insert from failing the whole transaction; two concurrent submissions drawing the same
    unused reference at the same moment (about one in 10^9 per submission) still hit the unique
    constraint and fail cleanly rather than share a reference.
    """
    with connection.cursor() as cursor:
        for _attempt in range(5):
            reference = new_referral_reference()
            cursor.execute("SELECT 1 FROM intake_referral WHERE reference = %s", [reference])
            if cursor.fetchone() is None:
                return reference
    raise ApplicationError("could not allocate a referral reference", code="reference_exhausted")


def consent_text_hash(definition: ProgramDefinition, version: str) -> str:
    text = next(t.text for t in definition.consent.texts if t.version == version)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PreparedSubmission:
    """A submission checked against its program and ready to store (``referral_prepare``)."""

    referrer: Referrer
    method: str
    version: ProgramVersion
    definition: ProgramDefinition
    lead: dict[str, Any]
    answers: dict[str, Any]
    missing: list[str]
    emails: str
    phones: str
    utm: dict[str, str]


def referral_prepare(
    *, referrer: Referrer, submission: Submission, method: str
) -> PreparedSubmission:
    """Check a submission without writing anything; raise ``PermissionDenied`` (inactive
    referrer or source, a method the source does not use) or ``ValidationFailed``.

    Callers that hold a write transaction for other reasons (the partner API) prepare first,
    so validation, normalisation and blind indexing happen outside it: on SQLite the write
    lock is then held only for the writes.
    """
    if not referrer.active or not referrer.source.active:
        raise PermissionDenied("this referrer may no longer refer", code="referrer_inactive")
    # Read the active version now, not through a cached referrer: a program applied a moment
    # ago must handle the next referral. Only the small columns: the definition itself comes
    # from the per-version cache.
    version = _active_version(referrer.source.program_id)
    if version is None:
        raise ApplicationError("this program has no active version", code="program_inactive")
    definition = version_definition(version)
    source = definition.sources.get(referrer.source.slug)
    if source is not None and method not in source.submission_methods:
        # The program decides how each source may submit (web form, partner API, bulk upload).
        raise PermissionDenied(
            f"this source does not submit by {method}; it uses: "
            + ", ".join(source.submission_methods),
            code="submission_method_not_accepted",
        )
    lead, answers, missing, errors = _check_submission(definition, referrer, submission)
    if errors:
        raise ValidationFailedError(errors)
    country = lead.get("country") or "US"
    return PreparedSubmission(
        referrer=referrer,
        method=method,
        version=version,
        definition=definition,
        lead=lead,
        answers=answers,
        missing=missing,
        emails=email_index(lead.get("email")),
        phones=phone_index(lead.get("phone"), country),
        utm={key: str(submission.utm.get(key, ""))[:100] for key in UTM_FIELDS},
    )


def referral_submit(
    *,
    referrer: Referrer,
    submission: Submission,
    method: str,
    actor,
    client_ref: str = "",
    received_at: datetime | None = None,
    prepared: PreparedSubmission | None = None,
) -> SubmitResult:
    """Accept one referral, or raise ``ValidationFailed`` having written nothing.

    1. Refuse an inactive referrer or source (403); a known ``client_ref`` returns the original.
    2. Validate against the program's active version; collect missing items
       (``referral_prepare``, unless ``prepared`` is given for this referrer and method).
    3. In one transaction: the referral (lead data encrypted, blind indexes), its consent record
       (text version and hash), duplicate linkage, routing, and the audit events.
    """
    if client_ref:
        existing = Referral.objects.filter(referrer=referrer, client_ref=client_ref).first()
        if existing is not None:
            return SubmitResult(existing, created=False)
    if prepared is None:
        prepared = referral_prepare(referrer=referrer, submission=submission, method=method)
    elif prepared.referrer.pk != referrer.pk or prepared.method != method:
        raise ValueError("prepared for another referrer or method")
    received_at = received_at or timezone.now()
    try:
        # A savepoint is needed only to survive the unique client_ref race below; the audit
        # batch writes the chain at the end, so the chain lock is held only until commit.
        with transaction.atomic(savepoint=bool(client_ref)), audit_batch():
            return _write(
                submission=submission,
                actor=actor,
                client_ref=client_ref,
                received_at=received_at,
                prepared=prepared,
            )
    except IntegrityError:
        # A concurrent retry with the same client_ref won the race: answer with its referral.
        existing = Referral.objects.filter(referrer=referrer, client_ref=client_ref).first()
        if client_ref and existing is not None:
            return SubmitResult(existing, created=False)
        raise


def _write(
    *,
    submission: Submission,
    actor,
    client_ref: str,
    received_at: datetime,
    prepared: PreparedSubmission,
) -> SubmitResult:
    referrer, method, version, definition = (
        prepared.referrer,
        prepared.method,
        prepared.version,
        prepared.definition,
    )
    lead, answers, missing, utm = prepared.lead, prepared.answers, prepared.missing, prepared.utm
    window = timedelta(days=definition.duplicates.window_days)
    original = _find_duplicate(
        program_id=version.program_id,
        emails=prepared.emails,
        phones=prepared.phones,
        since=received_at - window,
    )
    lead_kind = submission.lead_kind or definition.request_types[submission.request_type].lead_kind
    stage, outcome, outcome_reason = Stage.RECEIVED, "", ""
    if original is not None:
        stage, outcome, outcome_reason = Stage.CLOSED, Outcome.DUPLICATE, "same_lead_in_window"
    elif missing:
        stage = Stage.NEEDS_INFO
    referral = sql.insert(
        Referral(
            reference=_unused_reference(),
            program_id=version.program_id,
            program_version=version,
            source=referrer.source,
            referrer=referrer,
            submission_method=method,
            client_ref=client_ref,
            received_at=received_at,
            request_type=submission.request_type,
            therapy_area=submission.therapy_area,
            lead_kind=lead_kind,
            lead=lead,
            answers=answers,
            preferred_contact=lead.get("preferred_contact", ""),
            lead_timezone=lead.get("timezone", ""),
            language=lead.get("language", ""),
            country=lead.get("country", ""),
            email_index=prepared.emails,
            phone_index=prepared.phones,
            stage=stage,
            outcome=outcome,
            outcome_reason=outcome_reason,
            missing=missing,
            duplicate_of=original,
            closed_at=received_at if outcome else None,
            **utm,
        )
    )
    missing_items_record(referral=referral, fields=missing)
    audit_record(
        actor=actor,
        action="referral.submitted",
        subject=referral,
        sensitive_fields=Referral.SENSITIVE_FIELDS,
        changes={
            "reference": (None, referral.reference),
            "program": (None, definition.id),
            "program_version": (None, version.number),
            "referrer": (None, referrer.code),
            "source": (None, referrer.source.slug),
            "request_type": (None, referral.request_type),
            "stage": (None, stage),
            "lead": (None, lead),
            "answers": (None, answers),
            "missing": (None, missing),
            "method": (None, method),
            **{key: (None, value) for key, value in utm.items() if value},
        },
    )
    # Routing reads the consent state; it was written a moment ago in this transaction.
    referral.consent_at_intake = None
    if submission.consent is not None:
        consent = submission.consent
        record = referral.consent_at_intake = sql.insert(
            ConsentRecord(
                referral=referral,
                granted=bool(consent.get("granted")),
                purposes=sorted(consent.get("purposes") or []),
                channels=sorted(consent.get("channels") or []),
                method=consent["method"],
                text_version=consent["text_version"],
                text_hash=consent_text_hash(definition, consent["text_version"]),
                recorded_at=received_at,
                recorded_by=str(getattr(actor, "audit_label", actor)),
            )
        )
        audit_record(
            actor=actor,
            action="consent.recorded",
            subject=referral,
            changes={
                "granted": (None, record.granted),
                "purposes": (None, record.purposes),
                "channels": (None, record.channels),
                "method": (None, record.method),
                "text_version": (None, record.text_version),
                "text_hash": (None, record.text_hash),
            },
        )
    if original is not None:
        # On the first referral's timeline: attribution of the second referrer is kept.
        audit_record(
            actor=actor,
            action="referral.duplicate_received",
            subject=original,
            changes={"duplicate": (None, referral.reference), "referrer": (None, referrer.code)},
        )
    if stage == Stage.RECEIVED:
        # Complete and new: the engine routes it in this same transaction and audit batch.
        from refdesk.routing.services import referral_route

        referral_route(referral=referral, actor=actor)
    if stage == Stage.NEEDS_INFO and referrer.email:
        # Ask the referrer for the missing items once the referral is safely stored; robust, so
        # a queue hiccup never turns an accepted referral into an error response.
        from refdesk.intake.tasks import send_completion_request

        public_id = str(referral.public_id)
        transaction.on_commit(lambda: send_completion_request.enqueue(public_id), robust=True)
    return SubmitResult(referral, created=True)
