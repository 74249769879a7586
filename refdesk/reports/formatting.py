"""Numbers in words for every report format: one place, so a duration reads the same on the
dashboard, in the HTML and PDF pack and in spreadsheets' labels."""

from __future__ import annotations


def duration_words(seconds: int | float | None) -> str:
    """``8100`` -> "2 h 15 min"; under a minute -> "under 1 min"; None -> "—"."""
    if seconds is None:
        return "—"
    minutes = int(seconds) // 60
    if minutes < 1:
        return "under 1 min"
    # Hours, not days: a business day is not 24 hours, and a wall-clock one is.
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours:,} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def percent_words(fraction: float | None) -> str:
    return "—" if fraction is None else f"{fraction * 100:.1f}%"


def count_words(count: int | None) -> str:
    return "—" if count is None else f"{count:,}"
