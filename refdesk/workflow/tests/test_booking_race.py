"""Twenty bookings at once: exactly one gets the time, the others a clear refusal, and the
database holds one appointment.

Real concurrency, real commits. On PostgreSQL twenty threads (each its own connection) book
through ``appointment_book`` together — the exclusion constraint on a member's booked time is
what refuses the losers. On both backends twenty processes do the same against a database they
share: on SQLite that is a file, and the serialised writer (``BEGIN IMMEDIATE`` behind the
writer lock) is what makes the check-then-insert safe. The counts are printed (``-s`` shows
them).

Two races: twenty referrals wanting the one member's same slot (one booked, nineteen
``slot_taken``), and twenty requests for one referral at different times (one booked, the
others ``already_booked`` or ``invalid_transition`` — never an IntegrityError or a 500).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction

from refdesk.audit.models import AuditEvent
from refdesk.core.errors import ApplicationError
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.outreach.models import Message
from refdesk.scheduling.choices import AppointmentStatus
from refdesk.scheduling.models import Appointment
from refdesk.scheduling.selectors import bookable_members
from refdesk.testing import (
    agent,
    apply_demo_programs,
    approve_all_content,
    demo_programs_present,
    submit,
    support_by_email,
)
from refdesk.workflow.booking import LEAD, appointment_book, hold_member_locks, next_free_slots
from refdesk.workflow.tests.processes import child_env, on_shared_database, run_in_child

RACERS = 20
# Monday 7 December 2026, 09:00 in New York (the patient-services team's zone).
MONDAY = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
# Tuesday 8 December, 10:00 in New York: the one slot everybody wants.
SLOT = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)
THIS_MODULE = "refdesk.workflow.tests.test_booking_race"
REFUSED_TWICE = {"already_booked", "invalid_transition"}  # a second booking of one referral


def distinct_times(count: int) -> list[datetime]:
    """``count`` free, non-overlapping times in the team's hours: Tuesday to Thursday from
    11:00 New York (09:00 for the Denver lead, so both reminders fall outside quiet hours and
    after Monday's booking), 45 minutes apart (a 15-minute call and its 10-minute buffer)."""
    return [
        SLOT + timedelta(hours=1) + timedelta(days=i // 8, minutes=45 * (i % 8))
        for i in range(count)
    ]


def prepare(count: int) -> list[int]:
    """(Committed.) One agent in patient-services and ``count`` patient-support referrals
    submitted on Monday morning; their ids."""
    if not demo_programs_present():  # an earlier transactional test emptied the database
        apply_demo_programs(note="test session")
    with time_machine.travel(MONDAY - timedelta(hours=1), tick=False):
        approve_all_content()
        agent()
        return [submit("patient-support", support_by_email(n)).pk for n in range(count)]


def book(referral_id: int, starts_at: datetime) -> str:
    """One booking request; its outcome as a code: ``booked``, the refusal's code, or
    ``error:<class>`` for anything that is not a clear refusal."""
    referral = Referral.objects.get(pk=referral_id)
    try:
        appointment_book(
            referral=referral, type_key="support-call", starts_at=starts_at, actor=LEAD
        )
    except ApplicationError as refusal:
        return refusal.code
    except Exception as error:  # an IntegrityError, a deadlock: named, so the test shows it
        return f"error:{type(error).__name__}: {error}"
    return "booked"


def facts(referral_ids: list[int]) -> dict:
    """What the database holds after a race, as plain values."""
    return {
        "booked": Appointment.objects.filter(status=AppointmentStatus.BOOKED).count(),
        "appointments": Appointment.objects.count(),
        "scheduled": Referral.objects.filter(pk__in=referral_ids, stage=Stage.SCHEDULED).count(),
        "messages": Message.objects.filter(appointment__isnull=False).count(),
        "scheduled_events": AuditEvent.objects.filter(action="referral.scheduled").count(),
    }


# What the database holds after either race: the winner's appointment, its move to scheduled,
# its confirmation and two reminders; the losers wrote nothing.
ONE_BOOKING = {"booked": 1, "appointments": 1, "scheduled": 1, "messages": 3, "scheduled_events": 1}


def check_one_slot(outcomes: Counter, after: dict, how: str) -> None:
    print(
        f"\nrace ({how}, one slot): {outcomes['booked']} booked, "
        f"{outcomes['slot_taken']} refused as slot_taken"
    )
    assert outcomes == {"booked": 1, "slot_taken": RACERS - 1}, outcomes
    assert after == ONE_BOOKING


def check_one_referral(outcomes: Counter, after: dict, how: str) -> None:
    refused = sum(count for code, count in outcomes.items() if code in REFUSED_TWICE)
    print(
        f"\nrace ({how}, one referral): {outcomes['booked']} booked, {refused} refused "
        f"({', '.join(f'{code} {n}' for code, n in sorted(outcomes.items()) if code != 'booked')})"
    )
    assert outcomes["booked"] == 1, outcomes
    assert refused == RACERS - 1, outcomes
    assert after == ONE_BOOKING


# --- PostgreSQL: twenty threads -------------------------------------------------------------


def race_in_threads(calls: list[Callable[[], str]]) -> Counter:
    """Run the calls in threads released together; each closes its connection at the end."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait(timeout=60)
            outcome = call()
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    with time_machine.travel(MONDAY, tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert len(outcomes) == len(calls), "a racer did not finish"
    return Counter(outcomes)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="threads share the test database on PostgreSQL only; processes race below",
)
@pytest.mark.django_db(transaction=True)  # real commits: the threads read each other's
class TestTwentyThreadsOnPostgreSQL:
    def test_wanting_one_slot_they_book_it_once_and_the_rest_are_told_it_was_taken(self):
        referral_ids = prepare(RACERS)
        team = Referral.objects.get(pk=referral_ids[0]).queue.team
        assert len(bookable_members(team)) == 1  # one member: room for one appointment

        outcomes = race_in_threads([lambda pk=pk: book(pk, SLOT) for pk in referral_ids])

        check_one_slot(outcomes, facts(referral_ids), "PostgreSQL, 20 threads")

    def test_booking_one_referral_they_book_it_once_and_the_rest_are_refused_clearly(self):
        (referral_id,) = prepare(1)

        outcomes = race_in_threads(
            [lambda at=at: book(referral_id, at) for at in distinct_times(RACERS)]
        )

        check_one_referral(outcomes, facts([referral_id]), "PostgreSQL, 20 threads")

    def test_many_members_earliest_times_no_deadlock_and_no_overlap(self):
        """Twenty leads each after the earliest free time of a four-member team, retrying as
        the page does when told it was taken. Concurrent inserts of overlapping ranges can
        deadlock inside the exclusion constraint; the booking's per-member lock makes them
        queue instead: everyone is booked, nobody gets a database error, nothing overlaps."""
        referral_ids = prepare(RACERS)
        for n in range(3):
            agent(f"agent{n}")
        Referral.objects.filter(pk__in=referral_ids).update(assigned_to=None)

        def earliest(pk: int) -> str:
            referral = Referral.objects.get(pk=pk)
            for _ in range(30):
                slots = next_free_slots(
                    referral=referral, type_key="support-call", lead=True, limit=1
                )
                outcome = book(pk, slots[0].starts_at)
                if outcome != "slot_taken":
                    return outcome
            return "gave_up"

        outcomes = race_in_threads([lambda pk=pk: earliest(pk) for pk in referral_ids])

        print(f"\nrace (PostgreSQL, 20 threads, 4 members, earliest times): {dict(outcomes)}")
        assert outcomes == {"booked": RACERS}, outcomes
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM scheduling_appointment a JOIN scheduling_appointment b "
                "ON a.member_id = b.member_id AND a.id < b.id AND a.status = 'booked' "
                "AND b.status = 'booked' AND a.starts_at < b.blocked_until "
                "AND b.starts_at < a.blocked_until"
            )
            assert cursor.fetchone()[0] == 0

    def test_a_booking_waits_for_another_booking_of_the_same_member_to_end(self):
        """Bookings of one member queue on its lock (``booking.hold_member_locks``) instead of
        inserting side by side: concurrent overlapping inserts can deadlock inside the
        exclusion constraint (bench/booking.py met it with four processes)."""
        (referral_id,) = prepare(1)
        member = bookable_members(Referral.objects.get(pk=referral_id).queue.team)[0]
        held, release, done = threading.Event(), threading.Event(), threading.Event()

        def holder():
            try:
                with transaction.atomic():
                    hold_member_locks([member.pk])
                    held.set()
                    release.wait(30)
            finally:
                connection.close()

        def booker():
            try:
                with time_machine.travel(MONDAY, tick=False):
                    assert book(referral_id, SLOT) == "booked"
                done.set()
            finally:
                connection.close()

        first = threading.Thread(target=holder)
        first.start()
        assert held.wait(30)
        second = threading.Thread(target=booker)
        second.start()
        waited = not done.wait(1.0)  # still waiting for the member while the other holds it
        release.set()
        first.join(30)
        second.join(30)
        assert waited, "the booking did not wait for the member's lock"
        assert done.is_set()


# --- both backends: twenty processes ---------------------------------------------------------


def _racer(barrier, results, referral_id: int, starts_at: datetime) -> None:
    """(In a forked process.) Its own connection, released with the others, closed at the end."""
    connections.close_all()  # nothing inherited: the parent closed its connection before forking
    try:
        with time_machine.travel(MONDAY, tick=False):
            barrier.wait(timeout=60)
            results.put(book(referral_id, starts_at))
    finally:
        connections.close_all()


def race_in_processes(scenario: str) -> dict:
    """(In a child Python on the shared database.) Prepare, fork ``RACERS`` processes that
    book together, and report their outcomes and what the database holds."""
    if scenario == "one_slot":
        referral_ids = prepare(RACERS)
        requests = [(pk, SLOT) for pk in referral_ids]
    else:
        referral_ids = prepare(1)
        requests = [(referral_ids[0], at) for at in distinct_times(RACERS)]
    connections.close_all()  # each racer opens its own
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(requests))
    results = context.Queue()
    racers = [
        context.Process(target=_racer, args=(barrier, results, pk, at)) for pk, at in requests
    ]
    for racer in racers:
        racer.start()
    outcomes = [results.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(60)
    return {
        "vendor": connection.vendor,
        "exit_codes": sorted({racer.exitcode for racer in racers}),
        "outcomes": dict(Counter(outcomes)),
        "after": facts(referral_ids),
    }


@on_shared_database
@pytest.mark.parametrize("scenario", ["one_slot", "one_referral"])
def test_twenty_processes_race_on_a_shared_database_and_one_booking_wins(
    scenario, shared_database, tmp_path
):
    """SQLite: a file both the processes and the serialised writer share. PostgreSQL: the
    test database, committed (``shared_database``)."""
    result = run_in_child(
        child_env(shared_database, tmp_path),
        THIS_MODULE,
        f"t.race_in_processes({scenario!r})",
    )
    assert result["exit_codes"] == [0]
    how = f"{result['vendor']}, {RACERS} processes"
    if scenario == "one_slot":
        check_one_slot(Counter(result["outcomes"]), result["after"], how)
    else:
        check_one_referral(Counter(result["outcomes"]), result["after"], how)
