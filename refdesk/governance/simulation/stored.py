"""Stored referrals read for replay, fast: keyset chunks of plain column tuples, and per chunk one
query for the latest engine decisions and one for the consent records.

Django's per-value converters (JSON parsing, SQLite datetime parsing) cost more than the engine
itself at 100,000 rows, so columns that are only compared travel as text: flags are parsed once
per distinct value, and times of decisions and consents are compared as text, which orders them
correctly because both come from the same database in the same format.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any, NamedTuple

from django.db.models import Func, Q, TextField
from django.db.models.functions import Cast

from refdesk.consent.choices import ConsentState
from refdesk.consent.models import ConsentRecord
from refdesk.consent.selectors import consent_state
from refdesk.core.crypto import decrypt_json
from refdesk.intake.choices import Outcome
from refdesk.intake.models import Referral
from refdesk.programs.engine import Facts
from refdesk.programs.models import Program
from refdesk.programs.schema import ProgramDefinition
from refdesk.routing.choices import DecisionKind
from refdesk.routing.models import RoutingDecision

CHUNK = 2000
SKIPPED_OUTCOMES = (Outcome.DUPLICATE, Outcome.ENTERED_IN_ERROR)
# Facts that only the (encrypted) lead holds; a program whose rules use none of them is
# replayed without decrypting the lead of its patients, which halves the cryptography work.
LEAD_FACTS = frozenset({"region", "specialty", "target_specialty", "npi_check"})
ROW_COLUMNS = (
    "id",
    "reference",
    "received_at",
    "request_type",
    "therapy_area",
    "lead_kind",
    "source_id",
    "referrer_id",
    "country",
    "preferred_contact",
    "lead_token",
    "answers_token",
)


class StoredDecision(NamedTuple):
    """The parts of a stored engine decision that a replay compares (a tuple: chunks go to
    worker processes, and tuples pickle several times faster than dataclasses)."""

    decided_at: str  # as text, only compared with consent times (see the module docstring)
    queue: str
    rule_id: str
    flags: tuple[str, ...]
    qualified: bool | None
    prescreen: str | None


@dataclass
class Chunk:
    """Up to ``CHUNK`` referral rows with their latest decisions and consent records: everything
    a replay needs, as plain picklable values (it may go to a worker process)."""

    rows: list[tuple]
    decisions: dict[int, StoredDecision]
    consents: dict[int, list[tuple]]


def referral_rows(program: Program, since: date | None):
    """The program's referrals to replay, and (duplicates, entered in error) skipped."""
    rows = Referral.objects.filter(program=program)
    if since is not None:
        # Midnight UTC, like every stored time: a plain range keeps the (program, time) index.
        rows = rows.filter(received_at__gte=datetime.combine(since, time.min, tzinfo=UTC))
    duplicates = rows.filter(outcome=Outcome.DUPLICATE).count()
    mistakes = rows.filter(outcome=Outcome.ENTERED_IN_ERROR).count()
    rows = rows.exclude(outcome__in=SKIPPED_OUTCOMES).annotate(
        # The ciphertext as stored, so only the leads that a rule may read get decrypted.
        lead_token=Cast("lead", TextField()),
        answers_token=Cast("answers", TextField()),
    )
    return rows, duplicates, mistakes


def chunks(rows, program_id: int, queues: dict[int, str]) -> Iterator[Chunk]:
    """``rows`` (of ``referral_rows``) in chunks of ``CHUNK``, with their decisions and consents."""
    last_id = 0
    while True:
        batch = list(rows.filter(id__gt=last_id).order_by("id").values_list(*ROW_COLUMNS)[:CHUNK])
        if not batch:
            return
        first, last_id = batch[0][0], batch[-1][0]
        yield Chunk(
            batch,
            latest_decisions(program_id, first, last_id, queues),
            consents(program_id, first, last_id),
        )


def latest_decisions(
    program_id: int, first: int, last: int, queues: dict[int, str]
) -> dict[int, StoredDecision]:
    """The latest engine decision (not a person's re-route) of each of the program's referrals
    with an id in [first, last]."""
    rows = (
        RoutingDecision.objects.filter(_of_program(program_id, first, last))
        .exclude(kind=DecisionKind.REROUTE)
        .order_by("referral_id", "decided_at", "id")
        .values_list(
            "referral_id",
            Cast("decided_at", TextField()),
            "queue_id",
            "rule_id",
            Cast("flags", TextField()),
            QualifiedAndPrescreen("decision"),
        )
    )
    latest = {}
    for referral_id, decided_at, queue_id, rule_id, flags, outcomes in rows:
        qualified, prescreen = _outcomes(outcomes)
        latest[referral_id] = StoredDecision(
            decided_at=decided_at,
            queue=queues.get(queue_id, ""),
            rule_id=rule_id,
            flags=_flags(flags),
            qualified=qualified,
            prescreen=prescreen,
        )
    return latest


def _of_program(program_id: int, first: int, last: int) -> Q:
    """Rows of the program's referrals with ids in [first, last].

    Measured against an id list and a join on the referral: the range on both sides of a
    semi-join was fastest on SQLite and PostgreSQL alike (with a plain join PostgreSQL hashed
    the whole program's referrals for every chunk), and other programs' referrals sharing the
    range are dropped before their decision documents are read.
    """
    ids = Referral.objects.filter(program_id=program_id, id__gte=first, id__lte=last)
    return Q(referral_id__gte=first, referral_id__lte=last, referral_id__in=ids.values("id"))


class QualifiedAndPrescreen(Func):
    """``[qualified, prescreen outcome]`` of a stored decision document, as JSON text.

    One extraction instead of Django's key transforms, which on SQLite parse the ~2 KB document
    two or three times per key; the few distinct results are parsed once each in Python.
    """

    output_field = TextField()

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"JSON_EXTRACT({sql}, '$.qualified', '$.prescreen.outcome')", params

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"jsonb_build_array({sql} -> 'qualified', {sql} #> '{{prescreen,outcome}}')::text",
            (*params, *params),
        )


@lru_cache(maxsize=64)
def _outcomes(text: str | None) -> tuple[bool | None, str | None]:
    qualified, prescreen = json.loads(text) if text else (None, None)
    return (qualified if isinstance(qualified, bool) else None), (prescreen or None)


@lru_cache(maxsize=256)
def _flags(text: str | None) -> tuple[str, ...]:
    return tuple(sorted(json.loads(text))) if text else ()


def consents(program_id: int, first: int, last: int) -> dict[int, list[tuple]]:
    """Consent records of the program's referrals with an id in [first, last], oldest first,
    times as text."""
    rows = (
        ConsentRecord.objects.filter(_of_program(program_id, first, last))
        .order_by("referral_id", "recorded_at", "id")
        .values_list(
            "referral_id",
            "event",
            "granted",
            Cast("channels", TextField()),
            Cast("recorded_at", TextField()),
            Cast("expires_at", TextField()),
        )
    )
    found: dict[int, list[tuple]] = defaultdict(list)
    for referral_id, event, granted, channels, recorded_at, expires_at in rows:
        found[referral_id].append((event, bool(granted), _flags(channels), recorded_at, expires_at))
    return found


class FactsBuilder:
    """Engine facts from plain referral columns, as ``routing.facts.referral_facts`` builds them
    from a model instance, with consent as it stood when the stored decision was made (so a
    later withdrawal does not show up as a rule change)."""

    def __init__(self, definition: ProgramDefinition, *, sources, referrers):
        self.sources = sources
        self.referrers = referrers
        consent = definition.consent
        self.consent_kinds = frozenset(consent.for_lead_kinds) if consent is not None else ()
        self.needs_lead = uses_lead_facts(definition)

    def facts(self, row: tuple, consents, at) -> Facts:
        (_, _, received_at, request_type, therapy_area, lead_kind, source_id, referrer_id) = row[:8]
        country, preferred_contact, lead_token, answers_token = row[8:]
        lead = {}
        if lead_token and (self.needs_lead or lead_kind != "patient"):
            lead = decrypt_json(lead_token) or {}
        state, channels = self.consent(lead_kind, consents, at)
        return Facts(
            received_at=received_at,
            lead_kind=lead_kind,
            source=self.sources.get(source_id, ""),
            request_type=request_type,
            therapy_area=therapy_area or "",
            answers=(decrypt_json(answers_token) or {}) if answers_token else {},
            consent=state,
            consent_channels=channels,
            country=country or str(lead.get("country") or ""),
            region=str(lead.get("region") or ""),
            referrer=self.referrers.get(referrer_id, ""),
            specialty=str(lead.get("specialty") or ""),
            npi=str(lead.get("npi") or ""),
            preferred_contact=preferred_contact or str(lead.get("preferred_contact") or ""),
        )

    def consent(self, lead_kind: str, consents, at) -> tuple[str, tuple[str, ...]]:
        """(state, channels) from the latest record made by ``at`` (records oldest first), by
        ``consent_state``: the rule ``consent_current`` applies to live referrals."""
        current = None
        for record in consents:
            if record[3] <= at:
                current = record
        event, granted, channels, _, expires_at = current or (None, False, (), None, None)
        state = consent_state(
            needed=lead_kind in self.consent_kinds,
            event=event,
            granted=granted,
            expires_at=expires_at,
            now=at,
        )
        return (state, channels) if state == ConsentState.GRANTED else (state, ())


def uses_lead_facts(definition: ProgramDefinition) -> bool:
    """Does any rule of the definition read a fact that only the lead holds?"""

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return any(key in LEAD_FACTS or walk(value) for key, value in node.items())
        if isinstance(node, list):
            return any(walk(item) for item in node)
        return False

    # The intake form's field list names lead fields, but no rule lives there.
    return walk(definition.model_dump(mode="json", exclude={"intake"}))
