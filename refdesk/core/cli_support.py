"""Helpers shared by refdesk's management commands."""

from __future__ import annotations

import getpass


def cli_actor(name: str | None) -> str:
    """Who is running a command, for the audit trail: ``--as`` or the operating-system user."""
    if name:
        return f"cli:{name}"
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
