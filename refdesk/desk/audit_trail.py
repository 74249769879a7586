"""The console's reading of the audit trail: the filters of ``/desk/audit/`` (from the query
string, or the export form's copy of it), one page of events, and who viewed a referral.

Filters travel in the query string and never hold patient data: a subject (a type and an id, or
a referral's reference — not patient data — resolved to its id), an actor label, an action or
an action prefix, and a period of whole days in the viewer's time zone. They build the same
``ExtractFilter`` the signed export takes, and ``events_matching`` is the one definition of what
they select, so "export these events" exports exactly the events listed.

Pages are sought by ``seq`` (``before``: older than; ``after``: newer than), 50 at a time,
newest first: page 1,000 costs what page 1 costs, and nothing counts the whole trail.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Min, Q

from refdesk.access.selectors import PATIENT_DATA_VIEWED
from refdesk.audit.extract import ExtractFilter, events_matching
from refdesk.audit.models import AuditEvent
from refdesk.core.references import parse_referral_reference
from refdesk.intake.models import Referral

PAGE_SIZE = 50
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# An action ("consent.recorded") or a prefix ending in "." ("consent."): codes, never text.
ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\.?")
SUBJECT_TYPE = re.compile(r"[a-z][a-z0-9_.]*")
TEXT_MAX = 200
# The filters a page keeps in its links (and the export form in hidden fields).
FILTER_KEYS = ("subject_type", "subject", "actor", "action", "from", "to")


class BadFilter(Exception):
    """A filter the page cannot read: answered with a 400 naming the field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class TrailQuery:
    """The filters as given (``values``, to fill the form and links) and as read (``filters``)."""

    values: dict[str, str] = field(default_factory=dict)
    filters: ExtractFilter = field(default_factory=ExtractFilter)
    referral: Referral | None = None  # when the subject is a referral

    @property
    def query_string(self) -> str:
        return urlencode({key: value for key, value in self.values.items() if value})


def _day(value: str, field_id: str) -> date | None:
    if not value:
        return None
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadFilter("Write the date like 2026-12-07.", field_id) from None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _actor(value: str) -> str:
    """An actor label as the trail stores it; a bare name is a staff user's (``user:NAME``)."""
    if not value:
        return ""
    return value if ":" in value else f"user:{value}"


def read_filters(params, *, zone: ZoneInfo) -> TrailQuery:
    """The filters from a query string (or the export form). ``BadFilter`` names the field of
    the first value it cannot read; a reference that is no referral's is one of them."""
    values = {key: (params.get(key) or "").strip()[:TEXT_MAX] for key in FILTER_KEYS}
    action = values["action"]
    if action and not ACTION.fullmatch(action):
        raise BadFilter("Choose an action from the list.", "audit-action")
    subject_type = values["subject_type"]
    if subject_type and not SUBJECT_TYPE.fullmatch(subject_type):
        raise BadFilter("Choose a subject type from the list.", "audit-subject-type")
    subject_id, referral = values["subject"], None
    if subject_id.upper().startswith("RF") and subject_type in ("", "referral"):
        reference = parse_referral_reference(subject_id)
        if reference is None:
            raise BadFilter(
                "A referral reference looks like RF-7K3Q-9M2X; check the characters.",
                "audit-subject",
            )
        referral = Referral.objects.filter(reference=reference).first()
        if referral is None:
            raise BadFilter(f"No referral has the reference {reference}.", "audit-subject")
        values["subject"] = reference
        subject_type, subject_id = "referral", str(referral.public_id)
    since_day = _day(values["from"], "audit-from")
    until_day = _day(values["to"], "audit-to")
    if since_day and until_day and until_day < since_day:
        raise BadFilter("The period must end on or after the day it starts.", "audit-to")
    filters = ExtractFilter(
        since=_midnight(since_day, zone) if since_day else None,
        # Whole days: up to the end of the last day, in the viewer's zone.
        until=_midnight(until_day + timedelta(days=1), zone) if until_day else None,
        action=action,
        actor=_actor(values["actor"]),
        subject_id=subject_id,
        subject_type=subject_type,
    )
    return TrailQuery(values=values, filters=filters, referral=referral)


def _cursor(params, name: str) -> int | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise BadFilter("That page link is broken; start again from the newest events.", "")
    return int(value)


@dataclass
class TrailRow:
    event: AuditEvent
    changes: str  # as stored, as JSON
    reference: str = ""  # of the subject, when it is a referral
    viewed: bool = False  # a read of patient data, not a change


@dataclass
class TrailPage:
    rows: list[TrailRow]
    older: int | None  # seq to ask "before" for the next older page; None: none
    newer: int | None  # seq to ask "after" for the next newer page; None: this is the newest


def trail_page(query: TrailQuery, params) -> TrailPage:
    """One page of matching events, newest first (one query, and one for the references of
    the referrals among them)."""
    before, after = _cursor(params, "before"), _cursor(params, "after")
    rows = events_matching(query.filters)
    if after is not None:
        events = list(rows.filter(seq__gt=after).order_by("seq")[: PAGE_SIZE + 1])
        more_newer = len(events) > PAGE_SIZE
        events = events[:PAGE_SIZE][::-1]
        older = events[-1].seq if events else None
        newer = events[0].seq if events and more_newer else None
    else:
        if before is not None:
            rows = rows.filter(seq__lt=before)
        events = list(rows.order_by("-seq")[: PAGE_SIZE + 1])
        more_older = len(events) > PAGE_SIZE
        events = events[:PAGE_SIZE]
        older = events[-1].seq if events and more_older else None
        newer = events[0].seq if events and before is not None else None
    return TrailPage(rows=_rows(events), older=older, newer=newer)


def _rows(events: list[AuditEvent]) -> list[TrailRow]:
    ids = {e.subject_id for e in events if e.subject_type == "referral" and e.subject_id}
    references = {}
    if ids:
        references = {
            str(public_id): reference
            for public_id, reference in Referral.objects.filter(public_id__in=ids).values_list(
                "public_id", "reference"
            )
        }
    return [
        TrailRow(
            event=event,
            changes=json.dumps(event.changes, sort_keys=True, ensure_ascii=False)
            if event.changes
            else "",
            reference=references.get(event.subject_id, "")
            if event.subject_type == "referral"
            else "",
            viewed=is_view(event.action),
        )
        for event in events
    ]


def is_view(action: str) -> bool:
    """A read of patient data recorded in the trail (``referral.patient_data_viewed``, ...)."""
    return action == PATIENT_DATA_VIEWED or action.endswith((".viewed", "_viewed"))


@dataclass(frozen=True)
class Viewer:
    actor: str
    views: int
    first: datetime
    last: datetime


def referral_viewers(referral: Referral) -> list[Viewer]:
    """Who viewed the referral's patient data, how often, first and last: one grouped query
    over the referral's own events (the subject index)."""
    rows = (
        AuditEvent.objects.filter(subject_type="referral", subject_id=str(referral.public_id))
        .filter(Q(action__endswith=".viewed") | Q(action__endswith="_viewed"))
        .values("actor")
        .annotate(views=Count("id"), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("-last", "actor")
    )
    return [Viewer(r["actor"], r["views"], r["first"], r["last"]) for r in rows]
