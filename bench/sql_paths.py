"""Do intake's hand-written SQL paths pay for themselves? Each against its ORM equivalent.

    .venv/bin/python bench/sql_paths.py [--database sqlite|postgres] [--runs 400]

Every statement one partner-API submission runs through ``refdesk.core.sql`` or a raw cursor is
timed here next to the ORM call that would replace it, in one process, on a fresh database
(SQLite file in a temp dir, or a new PostgreSQL database ``refdesk_bench_sql``) with the demo
programs applied. The two are interleaved, ``--runs`` times each, inside one transaction rolled
back at the end; the table gives the median microseconds per call and what the hand-written
path saves per submission. refdesk keeps a hand-written path where that saving is clearly above
the noise (the comment beside each path names its figure); the rest use the ORM.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import bench_environment  # noqa: E402

PG_DB = "refdesk_bench_sql"


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def measure(pairs: dict, runs: int) -> list[tuple[str, float, float]]:
    """[(name, hand-written µs, ORM µs)], the two interleaved so drift hits both alike."""
    rows = []
    for name, (hand, orm) in pairs.items():
        for _ in range(20):  # warm caches and compiled SQL on both sides
            hand()
            orm()
        hand_times, orm_times = [], []
        for _ in range(runs):
            start = time.perf_counter()
            hand()
            hand_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            orm()
            orm_times.append(time.perf_counter() - start)
        rows.append((name, _median_us(hand_times), _median_us(orm_times)))
    return rows


def pairs_for_intake():
    """The statements of one submission: (hand-written, ORM) callables for each."""
    from datetime import timedelta

    from django.db import connection
    from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from refdesk.accounts.models import TeamMembership
    from refdesk.accounts.roles import assignee_roles
    from refdesk.api.models import IdempotencyRecord
    from refdesk.audit.models import AuditEvent
    from refdesk.consent.models import ConsentRecord
    from refdesk.core import sql
    from refdesk.core.references import new_referral_reference
    from refdesk.intake.choices import LOAD_STAGES, Outcome
    from refdesk.intake.models import Referral
    from refdesk.intake.submissions import _active_version, duplicate_find, referral_prepare
    from refdesk.programs.models import Program
    from refdesk.referrers.models import PartnerKey
    from refdesk.referrers.services import _hash_key, partner_key_create
    from refdesk.routing.assignment import _candidate_rows
    from refdesk.routing.models import Queue, RoutingDecision
    from refdesk.testing import make_referrer, trial, valid_npi  # noqa: F401
    from refdesk.workflow.submission import referral_submit

    referrer = make_referrer("trial-prescreening", "study-coordinator")
    record, key = partner_key_create(referrer=referrer, actor="system:bench")
    referral = referral_submit(
        referrer=referrer, submission=trial(1), method="api", actor=referrer
    ).referral
    prepared = referral_prepare(referrer=referrer, submission=trial(2), method="api")
    program_id = referral.program_id
    queue = referral.queue
    consent = ConsentRecord.objects.get(referral=referral)
    decision = RoutingDecision.objects.filter(referral=referral).first()
    event = AuditEvent.objects.order_by("-seq").first()
    now = timezone.now()
    counter = iter(range(10**9))

    def new_referral():
        clone = Referral.objects.get(pk=referral.pk)
        clone.pk = clone.id = None
        clone.public_id = __import__("uuid").uuid4()
        clone.reference = new_referral_reference()
        return clone

    template = new_referral()

    def fresh_referral():
        template.pk = template.id = None
        template._state.adding = True
        template.public_id = __import__("uuid").uuid4()
        template.reference = new_referral_reference()
        return template

    def fresh(model_obj, **values):
        model_obj.pk = model_obj.id = None
        model_obj._state.adding = True
        model_obj.public_id = __import__("uuid").uuid4()
        for field, value in values.items():
            setattr(model_obj, field, value)
        return model_obj

    def audit_events(n=3):
        events = []
        for _ in range(n):
            seq = next(counter) + 10**8
            copy = AuditEvent(
                seq=seq,
                occurred_at=now,
                actor=event.actor,
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                changes=event.changes,
                reason="",
                request_id="",
                prev_hash=f"{seq:064x}",
                hash=f"{seq + 1:064x}"[::-1],
            )
            events.append(copy)
        return events

    key_hash = _hash_key(key)
    keys = prepared.keys
    since = now - timedelta(days=30)
    stages = tuple(sorted(LOAD_STAGES))

    def candidates_orm():
        load = (
            Referral.objects.filter(assigned_to=OuterRef("user_id"), stage__in=stages)
            .order_by()
            .values("assigned_to")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return list(
            TeamMembership.objects.filter(
                team_id=queue.team_id,
                available=True,
                user__is_active=True,
                user__role__in=assignee_roles(lead_kind="patient"),
            )
            .annotate(load=Coalesce(Subquery(load, output_field=IntegerField()), Value(0)))
            .order_by("load", "last_assigned_at", "user_id")
            .values_list("user_id", "user__username")[:1]
        )

    def duplicates_orm():
        return (
            Referral.objects.filter(
                Q(email_index=keys["email"]) | Q(phone_index=keys["phone"]),
                program_id=program_id,
                received_at__gte=since,
                duplicate_of__isnull=True,
            )
            .exclude(outcome=Outcome.ENTERED_IN_ERROR)
            .order_by("received_at")
            .values_list("id", flat=True)
            .first()
        )

    def reference_raw():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM intake_referral WHERE reference = %s", ["RF-NONE-NONE"])
            return cursor.fetchone()

    return {
        "partner key + referrer + source + program (1 join)": (
            lambda: sql.select_related(
                PartnerKey, ("referrer", "source", "program"), "t0.key_hash = %s", [key_hash]
            ),
            lambda: list(
                PartnerKey.objects.select_related("referrer__source__program").filter(
                    key_hash=key_hash
                )
            ),
        ),
        "idempotency replay lookup": (
            lambda: sql.select(
                IdempotencyRecord, "partner_key_id = %s AND key = %s", [record.pk, "k-none"]
            ),
            lambda: IdempotencyRecord.objects.filter(partner_key=record, key="k-none").first(),
        ),
        "active version": (
            lambda: _active_version(program_id),
            lambda: (
                Program.objects.select_related("active_version")
                .only(
                    "active_version__id", "active_version__number", "active_version__content_hash"
                )
                .get(pk=program_id)
                .active_version
            ),
        ),
        "duplicate lookup (email, phone)": (
            lambda: duplicate_find(
                program_id=program_id, match_on=("email", "phone"), keys=keys, since=since
            ),
            duplicates_orm,
        ),
        "reference still free": (
            reference_raw,
            lambda: Referral.objects.filter(reference="RF-NONE-NONE").exists(),
        ),
        "insert the referral": (
            lambda: sql.insert(fresh_referral()),
            lambda: fresh_referral().save(force_insert=True),
        ),
        "insert its consent": (
            lambda: sql.insert(fresh(consent)),
            lambda: fresh(consent).save(force_insert=True),
        ),
        "queue by slug": (
            lambda: sql.select(Queue, "slug = %s", [queue.slug]),
            lambda: Queue.objects.filter(slug=queue.slug).first(),
        ),
        "insert the routing decision": (
            lambda: sql.insert(fresh(decision)),
            lambda: fresh(decision).save(force_insert=True),
        ),
        "the routing UPDATE (transition)": (
            lambda: sql.update(
                referral,
                {"queue": queue, "flags": [], "routed_at": now, "updated_at": now},
                where={"stage": referral.stage},
            ),
            lambda: Referral.objects.filter(pk=referral.pk, stage=referral.stage).update(
                queue=queue, flags=[], routed_at=now, updated_at=now
            ),
        ),
        "assignment candidates": (
            lambda: _candidate_rows(queue.team_id, "patient", limit=1),
            candidates_orm,
        ),
        "insert 3 audit events": (
            lambda: sql.insert_many(audit_events()),
            lambda: AuditEvent.objects.bulk_create(audit_events()),
        ),
    }


def child(runs: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from refdesk.testing import apply_demo_programs

    call_command("migrate", verbosity=0)
    apply_demo_programs(note="benchmark")
    with transaction.atomic():
        rows = measure(pairs_for_intake(), runs)
        transaction.set_rollback(True)
    print(f"\n{connection.vendor}: median µs per call, {runs} runs each, interleaved")
    print(f"{'statement':52} {'hand':>8} {'ORM':>8} {'saves':>8}")
    total_hand = total_orm = 0.0
    for name, hand, orm in rows:
        total_hand += hand
        total_orm += orm
        print(f"{name:52} {hand:8.0f} {orm:8.0f} {orm - hand:8.0f}")
    print(f"{'per submission':52} {total_hand:8.0f} {total_orm:8.0f} {total_orm - total_hand:8.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.runs)
        return
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        env = bench_environment(args.database, Path(tmp), pg_db=PG_DB)
        env["DJANGO_SETTINGS_MODULE"] = "refdesk.settings.test"
        code = subprocess.call(
            [sys.executable, __file__, "--child", "--runs", str(args.runs)], env=env
        )
    raise SystemExit(code)


if __name__ == "__main__":
    main()
