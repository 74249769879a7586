"""The ``refdesk`` command: refdesk's own commands plus a pass-through to any Django command.

refdesk serve [--no-worker]     web server (and an embedded task worker)
refdesk worker                  a task worker (run any number, on PostgreSQL)
refdesk status                  readiness checks, task queue, workers (exit 0 when ready)
refdesk demo [--referrals N]    demo programs, teams, users, referrers and referrals
refdesk program validate|apply|diff|list|simulate ...
refdesk audit verify [--anchor FILE ...] | anchor [--output FILE] | tail
refdesk consent expire          record lapsed consents as expired (daily)
refdesk keys generate [--all]   new secrets (works before any are configured)
refdesk keys rotate|status
refdesk backup --out PATH       a consistent backup and its manifest (docs/backup.md)
refdesk restore PATH            restore into an empty database, then verify it
refdesk names reindex           rebuild the name-search index (after changing the index key)
refdesk routing audit | referrer ... | partner ... | intake import ...
refdesk <any Django command>    migrate, createsuperuser, check, ...
"""

from __future__ import annotations

import os
import sys

from refdesk.devsecrets import keys_generate


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "refdesk"
    if argv[1:3] == ["keys", "generate"]:
        # Before Django: the settings refuse to load without secrets, and making the first ones
        # is what this command is for.
        raise SystemExit(keys_generate(argv[3:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "refdesk.settings.base")
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as error:
        # A configuration problem is the operator's to fix: say which variable, no traceback.
        print(f"refdesk: configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None

    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
