"""What the desk's list-page tests share: the queue, a fixed clock, referrals received a minute
apart, and reading a page's rows (the ``people`` and ``frozen`` fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt
import re

from refdesk.intake.models import Referral
from refdesk.testing import submit, trial

QUEUE_URL = "/desk/queues/clinical-ops-prescreening"
NOW = dt.datetime(2025, 3, 12, 15, 0, tzinfo=dt.UTC)  # a Wednesday


def trials(count: int, *, start: int = 0, days_ago: int = 0) -> list[Referral]:
    return [
        submit(
            "trial-prescreening",
            trial(n),
            received_at=NOW - dt.timedelta(days=days_ago, minutes=n),
        )
        for n in range(start, start + count)
    ]


def references(response) -> list[str]:
    """The references in the rows (not in messages), in page order."""
    rows = re.search(r"<tbody>(.*)</tbody>", response.content.decode(), re.S)
    return re.findall(r">(RF-[0-9A-Z]{4}-[0-9A-Z]{4})<", rows.group(1)) if rows else []


def logged_in(client, user):
    client.force_login(user)
    return client
