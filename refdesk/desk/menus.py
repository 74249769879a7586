"""What a queue page's menus list, read in one statement: sources, the team's members, the
viewer's saved filters, the queues (re-route targets) and the active program versions (whose
definitions name the request types).

The queue pages have a budget of 8 queries (bench/desk_queue.py, issue 10); these five small
lists as one UNION ALL cost one. Each arm yields (kind, a, b, c, d) text columns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast

from refdesk.accounts.models import User
from refdesk.desk.models import SavedFilter
from refdesk.programs.models import Program, ProgramVersion
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Source
from refdesk.routing.models import Queue

TEXT = CharField()


@dataclass
class Menus:
    sources: list[tuple[str, str]] = field(default_factory=list)  # (slug, label)
    members: list[tuple[str, str]] = field(default_factory=list)  # (public id, full name)
    saved: list[dict] = field(default_factory=list)  # {"public_id", "name", "query"}
    queues: list[tuple[str, str]] = field(default_factory=list)  # (slug, name)
    versions: list[tuple[int, str]] = field(default_factory=list)  # (id, content hash)

    def request_types(self) -> list[tuple[str, str]]:
        """(id, label) of every request type of the active program versions, by label."""
        labels = {}
        for version_id, content_hash in self.versions:
            labels = {**request_type_labels(version_id, content_hash), **labels}
        return sorted(labels.items(), key=lambda item: item[1].lower())


def _arm(queryset: QuerySet, kind: str, a, b, c=None, d=None) -> QuerySet:
    blank = Value("", output_field=TEXT)
    return queryset.order_by().values_list(
        Value(kind, output_field=TEXT),
        Cast(a, TEXT),
        Cast(b, TEXT),
        Cast(c, TEXT) if c is not None else blank,
        Cast(d, TEXT) if d is not None else blank,
    )


def page_menus(*, user, page: str, team_id: int | None, queues: bool) -> Menus:
    """The menus of one page (``page``: a queue slug or ``my-work``) for ``user``: members of
    ``team_id`` (None: none), the queues when ``queues`` (the bulk re-route menu)."""
    arms = [
        _arm(Source.objects.filter(active=True), "source", F("slug"), F("label")),
        _arm(
            SavedFilter.objects.filter(owner_id=user.pk, queue=page),
            "saved",
            F("public_id"),
            F("name"),
            F("query"),
        ),
        _arm(
            ProgramVersion.objects.filter(
                pk__in=Program.objects.filter(active_version__isnull=False).values(
                    "active_version_id"
                )
            ),
            "version",
            F("id"),
            F("content_hash"),
        ),
    ]
    if team_id is not None:
        arms.append(
            _arm(
                User.objects.filter(Q(memberships__team_id=team_id), is_active=True),
                "member",
                F("public_id"),
                F("first_name"),
                F("last_name"),
                F("username"),
            )
        )
    if queues:
        arms.append(_arm(Queue.objects.all(), "queue", F("slug"), F("name")))
    menus = Menus()
    sources = {}
    # UUIDs come back as text in each database's spelling (SQLite: bare hex): normalised.
    for kind, a, b, c, d in arms[0].union(*arms[1:], all=True).order_by():
        if kind == "source":
            sources.setdefault(a, b)  # one slug may serve several programs
        elif kind == "saved":
            menus.saved.append({"public_id": str(uuid.UUID(a)), "name": b, "query": c})
        elif kind == "version":
            menus.versions.append((int(a), b))
        elif kind == "member":
            menus.members.append((str(uuid.UUID(a)), f"{b} {c}".strip() or d))
        elif kind == "queue":
            menus.queues.append((a, b))
    menus.sources = sorted(sources.items(), key=lambda item: item[1].lower())
    menus.members.sort(key=lambda item: item[1].lower())
    menus.saved.sort(key=lambda item: item["name"].lower())
    menus.queues.sort(key=lambda item: item[1].lower())
    return menus


def request_type_labels(version_id: int, content_hash: str) -> dict[str, str]:
    """{request type id: label} of one program version (cached: versions are immutable)."""
    definition = version_definition(ProgramVersion(pk=version_id, content_hash=content_hash))
    return {key: spec.label for key, spec in definition.request_types.items()}


def row_request_type_labels(referrals, menus: Menus) -> dict[int, str]:
    """{referral pk: its request type's label} from its own program version's definition; a
    version not among the active ones costs one query for all of them (old referrals)."""
    hashes = dict(menus.versions)
    missing = {r.program_version_id for r in referrals} - hashes.keys()
    if missing:
        hashes.update(
            ProgramVersion.objects.filter(pk__in=missing).values_list("id", "content_hash")
        )
    labels = {}
    for referral in referrals:
        by_type = request_type_labels(
            referral.program_version_id, hashes[referral.program_version_id]
        )
        labels[referral.pk] = (
            by_type.get(referral.request_type)
            or referral.request_type.replace("_", " ").capitalize()
        )
    return labels
