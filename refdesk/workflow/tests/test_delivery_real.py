"""Delivery against a real SMTP server (aiosmtpd on 127.0.0.1), and workers killed mid-batch.

No mock between refdesk and the wire here: Django's SMTP backend talks to a server in this test
process, and in the second test real ``refdesk worker`` processes send, are killed with SIGKILL
while a message is on the wire, and are restarted. Lead messages are only sent outside quiet
hours in the lead's zone, so leads are given a zone where it is daytime now (real time: the
workers are other processes, which time_machine cannot reach).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from refdesk.audit.models import AuditEvent
from refdesk.intake.models import Referral
from refdesk.outreach.choices import ContentKind, MessagePurpose, MessageStatus, TimerKind
from refdesk.outreach.models import ContentVersion, Message, Timer
from refdesk.testing import (
    apply_demo_programs,
    approve_all_content,
    demo_programs_present,
    education,
    referrer_with_email,
    submit,
)
from refdesk.workflow.sending import message_id_header
from refdesk.workflow.sweep import sweep_due
from refdesk.workflow.tests.processes import ROOT, child_env, on_shared_database, run_in_child

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
ACK_TEMPLATE = "education-referral-received"
DAYTIME_ZONES = (
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
)


def daytime_zone() -> str:
    """A zone where it is closest to 13:00 now: lead messages are not held for quiet hours."""
    now = datetime.now(UTC)

    def distance(name: str) -> float:
        local = now.astimezone(ZoneInfo(name))
        return abs(local.hour + local.minute / 60 - 13)

    return min(DAYTIME_ZONES, key=distance)


# --- one message, in process, over SMTP -----------------------------------------------------


@pytest.mark.django_db
def test_the_acknowledgement_reaches_a_real_smtp_server_with_the_approved_wording(
    smtp_server, settings
):
    inbox, port = smtp_server
    settings.MAILERS = {
        "default": {"BACKEND": SMTP_BACKEND, "OPTIONS": {"host": "127.0.0.1", "port": port}}
    }
    approve_all_content()
    referrer = referrer_with_email("provider-education")
    submission = education(1)
    submission.lead["timezone"] = daytime_zone()
    referral = submit("provider-education", submission)

    sweep_due()

    ack = Message.objects.get(referral=referral, purpose=MessagePurpose.ACKNOWLEDGEMENT)
    assert ack.status == MessageStatus.SENT
    received = {str(m["Message-ID"]): m for m in inbox.received}
    assert message_id_header(ack) in received
    mail = received[message_id_header(ack)]
    assert [rcpts for _, rcpts in inbox.envelopes].count([referrer.email]) == 1  # no copy
    assert str(mail["To"]) == referrer.email

    # The wording is the approved version's, filled in: each placeholder becomes a value, the
    # words around them are exactly the template's.
    approved = ContentVersion.objects.get(
        kind=ContentKind.TEMPLATE, key=ACK_TEMPLATE, state="approved", program=referral.program
    )
    assert ack.template == approved
    rendition = approved.definition["channels"]["email"]
    subject = _filled(rendition["subject"], str(mail["Subject"]))
    assert subject == {"referral.reference": referral.reference}
    body = _filled(rendition["body"], mail.get_content().replace("\r\n", "\n").rstrip("\n"))
    assert body["referrer.name"] == referrer.name
    assert body["lead.family_name"] == submission.lead["family_name"]
    due = referral.first_response_due_at.astimezone(ZoneInfo("America/New_York"))
    assert f"{due:%-d %B %Y}" in body["sla.first_response_due"]
    sent = AuditEvent.objects.get(action="message.sent", changes__message__new=str(ack.public_id))
    assert sent.changes["template"]["new"] == f"{ACK_TEMPLATE} v{approved.version}"
    assert sent.changes["template_version"]["new"] == str(approved.public_id)


def _filled(template: str, text: str) -> dict[str, str]:
    """The placeholder values that turn ``template`` into exactly ``text`` (fails otherwise)."""
    parts = re.split(r"\{([a-z_.]+)\}", template)
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part.replace('.', '__')}>.+?)"
        for i, part in enumerate(parts)
    )
    match = re.fullmatch(pattern, text, flags=re.S)
    assert match, f"the text is not the template's wording:\n{text}"
    return {name.replace("__", "."): value for name, value in match.groupdict().items()}


# --- real workers, killed while a message is on the wire --------------------------------------

REFERRALS = 60  # each: the referrer's acknowledgement and the lead's first message
KILLS_AT = (8, 40, 85)  # the server's raw message counts at which the worker is killed
LEASE_SECONDS = 2


def _run_here(env: dict, call: str) -> dict:
    """Run ``call`` (an expression using this module) in a child process on the shared
    database; returns what it printed as JSON."""
    return run_in_child(env, "refdesk.workflow.tests.test_delivery_real", call)


def prepare_referrals(count: int, zone: str) -> dict:
    """(In the child) ``count`` routed provider-education referrals: each has the referrer's
    acknowledgement due and its first contact attempt due (which schedules the lead's email)."""
    if not demo_programs_present():  # an earlier transactional test emptied the database
        apply_demo_programs(note="test session")
    approve_all_content()
    referrer_with_email("provider-education")
    for n in range(count):
        submission = education(n)
        submission.lead["timezone"] = zone
        submit("provider-education", submission)
    return {"referrals": Referral.objects.count(), "messages": Message.objects.count()}


def delivery_facts() -> dict:
    """(In the child) what the checks need, as plain values."""
    return {
        "referrals": Referral.objects.count(),
        "messages": [
            {
                "referral": m.referral_id,
                "purpose": m.purpose,
                "status": m.status,
                "public_id": str(m.public_id),
                "message_id": message_id_header(m),
            }
            for m in Message.objects.order_by("id")
        ],
        "attempts_not_done": Timer.objects.filter(kind=TimerKind.ATTEMPT, attempt=1)
        .exclude(state="done")
        .count(),
        "timers_running": Timer.objects.filter(state="running").count(),
        "sent_events": [
            {
                "message": e.changes["message"]["new"],
                "resent": bool((e.changes.get("resent_after_interruption") or {}).get("new")),
            }
            for e in AuditEvent.objects.filter(action="message.sent").order_by("seq")
        ],
    }


def _worker(env: dict, log) -> subprocess.Popen:
    command = [sys.executable, "-m", "refdesk", "worker", "--sweep-batch", "10", "--interval"]
    return subprocess.Popen([*command, "0.2"], env=env, cwd=ROOT, stdout=log, stderr=log)


def _wait_for(condition, timeout: float, what: str, process, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(
                f"the worker exited ({process.returncode}) before {what}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{_tail(log_path)}")
        time.sleep(0.05)


def _tail(path: Path) -> str:
    return path.read_text()[-3000:] if path.exists() else ""


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.kill()
        worker.wait(30)


@on_shared_database
def test_workers_killed_mid_send_lose_nothing_and_resend_only_what_was_on_the_wire(
    smtp_server, shared_database, tmp_path
):
    inbox, port = smtp_server
    inbox.pause_at = set(KILLS_AT)
    env = child_env(
        shared_database,
        tmp_path,
        EMAIL_BACKEND=SMTP_BACKEND,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        REFDESK_FOLLOWUP_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    prepared = _run_here(env, f"t.prepare_referrals({REFERRALS}, {daytime_zone()!r})")
    assert prepared == {"referrals": REFERRALS, "messages": REFERRALS}  # the acknowledgements
    expected = 2 * REFERRALS  # and the first message to each lead, once its attempt fires

    log_path = tmp_path / "workers.log"
    with open(log_path, "w") as log:
        for kill in KILLS_AT:
            worker = _worker(env, log)
            try:
                _wait_for(inbox.paused.is_set, 120, f"message {kill}", worker, log_path)
                inbox.paused.clear()
                worker.send_signal(signal.SIGKILL)  # while the server holds back its reply
                assert worker.wait(30) == -signal.SIGKILL
            finally:
                _stop(worker)
                inbox.resume.set()
        # The last one retakes the killed workers' claims once their leases lapse.
        worker = _worker(env, log)
        try:
            _wait_for(
                lambda: len(set(inbox.message_ids())) >= expected,
                180,
                f"{expected} distinct messages",
                worker,
                log_path,
            )
            time.sleep(1)  # the last reply is recorded
            worker.send_signal(signal.SIGTERM)  # graceful: the sweep under way finishes
            assert worker.wait(60) == 0, _tail(log_path)
        finally:
            _stop(worker)

    facts = _run_here(env, "t.delivery_facts()")
    messages = facts["messages"]
    assert facts["referrals"] == REFERRALS
    per_referral = Counter((m["referral"], m["purpose"]) for m in messages)
    assert sorted(per_referral.values()) == [1] * expected  # one of each per referral
    assert Counter(purpose for _, purpose in per_referral) == {
        MessagePurpose.ACKNOWLEDGEMENT: REFERRALS,
        MessagePurpose.FIRST_OUTREACH: REFERRALS,
    }
    assert {m["status"] for m in messages} == {MessageStatus.SENT}
    assert facts["attempts_not_done"] == facts["timers_running"] == 0

    raw = inbox.message_ids()
    assert set(raw) == {m["message_id"] for m in messages}  # every message arrived
    assert len(set(raw)) == expected
    sent = facts["sent_events"]
    assert sorted(e["message"] for e in sent) == sorted(m["public_id"] for m in messages)
    resent = {e["message"] for e in sent if e["resent"]}
    # The copies the server got are exactly the messages the trail records as resent after an
    # interruption, under the same Message-ID: one per kill (each killed worker had one message
    # on the wire and had not heard back).
    assert len(raw) - expected == len(resent) == len(KILLS_AT)
    copies = {message_id for message_id, count in Counter(raw).items() if count > 1}
    by_public_id = {m["public_id"]: m["message_id"] for m in messages}
    assert copies == {by_public_id[public_id] for public_id in resent}
    assert copies == {raw[kill - 1] for kill in KILLS_AT}  # the ones on the wire when killed
