"""Rejection statistics: which errors refused submissions met, per program, source and method.

``rejections_record`` is called by the interfaces (partner API, web intake form, bulk import)
after a submission was refused for its content, i.e. after the failed submission's transaction
rolled back, so the rows survive it. It writes in its own atomic block and never raises into
the caller: a failure to record is logged (no patient data) and swallowed, because the referrer
must get their errors whether or not the statistics are kept. Not audited: nothing is changed
about any record (no referral exists), these are statistics only, like ``MissingItem``.

Field paths and codes only, never values. A name the submitter made up (an unknown field or
answer) is not a field of the program and may be anything, so it is stored as ``*``
(``lead.*``, ``answers.*``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from refdesk.intake.choices import SubmissionMethod
from refdesk.intake.models import Rejection
from refdesk.programs.selectors import version_definition
from refdesk.referrers.models import Referrer

logger = logging.getLogger(__name__)

# Codes whose field path ends in a name the submitter chose, not one the program defines.
INVENTED_NAME_CODES = frozenset({"unknown_field", "unknown_answer"})
UNKNOWN_NAME = "*"
CODE_MAX = Rejection._meta.get_field("code").max_length
FIELD_MAX = Rejection._meta.get_field("field").max_length


def _answer_ids(referrer: Referrer) -> frozenset[str]:
    version = referrer.source.program.active_version
    if version is None:
        return frozenset()
    return frozenset(version_definition(version).intake.answers)


def rejection_field(path: str | None, code: str, answer_ids: frozenset[str]) -> str:
    """The field path to store: the submitter's own names (an unknown field, an answer the
    program does not ask) replaced by ``*``."""
    if not path:
        return ""
    parts = str(path).split(".")
    if code in INVENTED_NAME_CODES:
        parts[-1] = UNKNOWN_NAME
    if parts[0] == "answers" and len(parts) > 1 and parts[1] not in answer_ids:
        parts[1] = UNKNOWN_NAME
    return ".".join(parts)[:FIELD_MAX]


def rejections_record(
    *,
    referrer: Referrer,
    method: str,
    errors: Iterable[tuple[str | None, str]],
    at: datetime | None = None,
) -> int:
    """Record one row per (field, code) error of a refused submission; returns how many.

    Never raises: returns 0 when nothing could be recorded (the failure is logged). The same
    (field, code) twice in one submission is one row.
    """
    try:
        # A bad method is a programming error; it is logged below like any other failure.
        method = SubmissionMethod(method).value
        pairs = list(dict.fromkeys((field or "", str(code)) for field, code in errors))
        if not pairs:
            return 0
        answer_ids = _answer_ids(referrer)
        occurred_at = at or timezone.now()
        rows = list(
            dict.fromkeys(
                (rejection_field(field, code, answer_ids), code[:CODE_MAX]) for field, code in pairs
            )
        )
        with transaction.atomic():
            Rejection.objects.bulk_create(
                [
                    Rejection(
                        program_id=referrer.source.program_id,
                        source_id=referrer.source_id,
                        method=method,
                        code=code,
                        field=field,
                        occurred_at=occurred_at,
                    )
                    for field, code in rows
                ]
            )
        return len(rows)
    except Exception as failure:  # noqa: BLE001 - statistics must never break the caller
        # The exception's class only: a driver's message could quote what it was given.
        logger.error(
            "rejection statistics not recorded (%s submission, referrer %s): %s",
            method,
            getattr(referrer, "pk", None),
            type(failure).__name__,
        )
        return 0
