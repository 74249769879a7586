"""The name-search blind index: ``intake.NameToken`` rows, one per keyed digest of a prefix of
a word of the lead's name (``refdesk.core.crypto.name_token_digests``).

- ``name_tokens_record`` runs inside ``referral_submit``'s transaction (the new referral's
  rows, one statement) and inside ``referral_complete``'s (a supplied name replaces the rows);
  a submission that fails leaves none. Not audited on their own: the event of the action that
  wrote the lead covers them, and they hold nothing but digests.
- ``name_tokens_reindex`` rebuilds every referral's rows from its decrypted lead, a batch per
  transaction: after an upgrade (the 0009 migration does it once) and after the blind-index
  key changes (every digest changes with it; until the reindex, name search finds nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from refdesk.audit.services import Actor, audit_record
from refdesk.core import sql
from refdesk.core.crypto import name_token_digests
from refdesk.intake.models import NameToken, Referral

# The lead fields a name is read from (person and organisation leads alike).
NAME_FIELDS = ("given_name", "family_name", "name", "organization")


def lead_name_digests(lead: Mapping[str, Any] | None) -> set[bytes]:
    """The digests a lead is indexed under: every word of every name field, every prefix."""
    lead = lead or {}
    return name_token_digests(*(str(lead[key]) for key in NAME_FIELDS if lead.get(key)))


def _rows(referral: Referral, digests: Iterable[bytes]) -> list[NameToken]:
    return [
        NameToken(referral_id=referral.pk, digest=digest, received_at=referral.received_at)
        for digest in sorted(digests)
    ]


def name_tokens_record(*, referral: Referral, lead: Mapping[str, Any], replace: bool) -> int:
    """Index ``referral`` under its lead's name; returns how many rows were added.

    Runs inside the caller's transaction. ``replace=False`` for a new referral (no rows yet:
    one INSERT, SQL built once — intake is the hot path); ``replace=True`` when the lead may
    have changed (rows no longer right are deleted, missing ones added).
    """
    digests = lead_name_digests(lead)
    if replace:
        stored = {
            bytes(digest)
            for digest in NameToken.objects.filter(referral_id=referral.pk).values_list(
                "digest", flat=True
            )
        }
        stale = stored - digests
        if stale:
            NameToken.objects.filter(referral_id=referral.pk, digest__in=stale).delete()
        digests -= stored
    sql.insert_many(_rows(referral, digests))
    return len(digests)


def name_tokens_reindex(*, actor: Actor, batch_size: int = 500) -> int:
    """Rebuild every referral's name tokens from its lead (after an upgrade or a change of the
    blind-index key); one transaction and one audit event per batch. Returns referrals indexed.
    Safe to re-run and to run while intake goes on: a batch rewrites its referrals' rows whole.
    """
    total, last_pk = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Referral.objects.filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update()
                .only("pk", "lead", "received_at")[:batch_size]
            )
            if not batch:
                return total
            NameToken.objects.filter(referral_id__in=[r.pk for r in batch]).delete()
            rows = [row for r in batch for row in _rows(r, lead_name_digests(r.lead))]
            NameToken.objects.bulk_create(rows, batch_size=1000)
            audit_record(
                actor=actor,
                action="names.reindexed",
                subject=("table", "intake.NameToken"),
                changes={"referrals": (None, len(batch)), "tokens": (None, len(rows))},
            )
        total += len(batch)
        last_pk = batch[-1].pk
