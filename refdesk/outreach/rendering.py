"""Filling a template's placeholders, and the quiet-hours clock: pure functions, no queries.

``render`` takes the values already gathered (``workflow.messages`` gathers them) so the same
function renders a preview in the console, a message at send time and a property test's cases.
A placeholder without a value refuses the render: a message never goes out with a blank or a
literal ``{placeholder}`` in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")


class MissingValue(Exception):
    """A placeholder the message needs has no value (e.g. {appointment.time} without one)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    placeholders: frozenset[str]


def placeholders_in(*texts: str | None) -> frozenset[str]:
    return frozenset(name for text in texts for name in PLACEHOLDER_RE.findall(text or ""))


def render(rendition: dict, values: dict[str, str]) -> Rendered:
    """Fill ``{name}`` placeholders of a channel rendition ({"subject", "body"}) from ``values``.

    Raises ``MissingValue`` naming the first placeholder without a (non-empty) value.
    """

    def fill(text: str | None) -> str:
        def one(match: re.Match) -> str:
            value = values.get(match.group(1))
            if value is None or value == "":
                raise MissingValue(match.group(1))
            return str(value)

        return PLACEHOLDER_RE.sub(one, text or "")

    subject, body = rendition.get("subject"), rendition.get("body")
    return Rendered(
        subject=fill(subject).strip(),
        body=fill(body).strip() + "\n",
        placeholders=placeholders_in(subject, body),
    )


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _local(day, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``zone``, normalised through UTC so a time skipped by a daylight-
    saving change (02:30 on a spring-forward night) lands on the first real instant after it."""
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")).astimezone(zone)


def quiet_until(moment: datetime, zone: ZoneInfo, start: str, end: str) -> datetime | None:
    """When quiet hours end, if ``moment`` falls inside them in ``zone``; None otherwise.

    Quiet hours run from ``start`` to ``end`` local time ("21:00" to "08:00" wraps past
    midnight). The answer is an aware datetime in ``zone``; equal start and end mean none.
    """
    begin, finish = _clock(start), _clock(end)
    if begin == finish:
        return None
    local = moment.astimezone(zone)
    now = local.timetz().replace(tzinfo=None)
    if begin < finish:  # e.g. 12:00-14:00 within one day
        inside = begin <= now < finish
        end_day = local.date()
    else:  # wraps midnight: 21:00-08:00
        inside = now >= begin or now < finish
        end_day = local.date() + timedelta(days=1) if now >= begin else local.date()
    return _local(end_day, finish, zone) if inside else None


def quiet_began(moment: datetime, zone: ZoneInfo, start: str, end: str) -> datetime | None:
    """When the quiet hours ``moment`` falls in began (aware, in ``zone``); None outside them.
    A reminder due in quiet hours goes before they begin instead of after they end."""
    if quiet_until(moment, zone, start, end) is None:
        return None
    begin, finish = _clock(start), _clock(end)
    local = moment.astimezone(zone)
    now = local.timetz().replace(tzinfo=None)
    day = local.date()
    if begin > finish and now < finish:  # after midnight: they began the evening before
        day -= timedelta(days=1)
    return _local(day, begin, zone)
