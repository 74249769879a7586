"""Missing-item statistics: which fields referrals lacked at submission, per source.

``missing_items_record`` runs inside ``referral_submit``'s transaction; the ``referral.submitted``
audit event already lists the missing items, so these rows are not audited again. Likewise
``missing_items_resolve`` is called by the service that accepts the supplied information, and that
service audits the change. Names of fields only, never values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from refdesk.intake.models import MissingItem, Referral
from refdesk.programs.models import Program


class MissingItemCount(NamedTuple):
    source: str  # the source's slug; "program/slug" when counting across all programs
    field: str  # e.g. "lead.email", "answers.ecog"
    count: int


def missing_items_record(*, referral: Referral, fields: Iterable[str]) -> int:
    """Record what ``referral`` lacked at submission; returns how many items were recorded.

    Runs inside the submission's transaction; no savepoint of its own (intake is the hot path).
    """
    names = sorted(set(fields))
    if not names:
        return 0
    MissingItem.objects.bulk_create(
        [
            MissingItem(
                referral=referral,
                program_id=referral.program_id,
                source_id=referral.source_id,
                field=name,
                recorded_at=referral.received_at,
            )
            for name in names
        ],
        # Recording twice (a retried call) must not fail the submission or count twice.
        ignore_conflicts=True,
    )
    return len(names)


@transaction.atomic
def missing_items_resolve(
    *, referral: Referral, fields: Iterable[str], at: datetime | None = None
) -> int:
    """Stamp the given items of ``referral`` as supplied; returns how many were still open."""
    names = set(fields)
    if not names:
        return 0
    return MissingItem.objects.filter(
        referral=referral, field__in=names, resolved_at__isnull=True
    ).update(resolved_at=at or timezone.now())


def missing_item_counts(
    *, program: Program | str | None = None, since: datetime | None = None
) -> list[MissingItemCount]:
    """How often each field was missing at submission, per source, most frequent first.

    Counts every item recorded (resolved or not): the report is about what referrers leave out.
    """
    items = MissingItem.objects.all()
    if isinstance(program, Program):
        items = items.filter(program=program)
    elif program is not None:
        items = items.filter(program__slug=program)
    if since is not None:
        items = items.filter(recorded_at__gte=since)
    rows = (
        items.values("source_id", "source__slug", "source__program__slug", "field")
        .annotate(count=Count("id"))
        .order_by("source__program__slug", "source__slug", "-count", "field")
    )
    return [
        MissingItemCount(
            source=row["source__slug"]
            if program is not None
            else f"{row['source__program__slug']}/{row['source__slug']}",
            field=row["field"],
            count=row["count"],
        )
        for row in rows
    ]
