"""The send invariant as a property: whatever happens, a message that went out was allowed to.

Hypothesis drives random sequences of events — leads of three programs in random time zones,
consent given, withdrawn (some channels or all) and expiring, medical reviews pending and
decided, template versions approved, retired and expiring, hours and days passing, staff
sends, the follow-up timers and the worker's sweep — and then checks every message that was
sent against the history, at the moment it was sent (``sent_at``):

1. a lead message had the lead's consent in force (granted, covering the channel and the
   program's contact purpose) where the program needs consent;
2. it did not reach the lead in quiet hours (21:00-08:00 in the lead's time zone, else the
   program's business time zone);
3. its template version (and each material) was approved by then, not yet expired, and not
   retired before it;
4. no medical review of the referral was pending (nor rejected) at that moment, and the
   referral was not closed.

The checks read the history (records as of ``sent_at``), not the services' answers, so they are
an independent oracle; ``test_the_oracle_notices_...`` shows each check can fail. Every event
happens at its own second (the clock is frozen and moves one second between events), so "before"
and "after" are never ambiguous. Each example runs in a savepoint rolled back at its end.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.db.models import Q
from hypothesis import event, given, settings, target
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from refdesk.audit.models import AuditEvent
from refdesk.consent.choices import ConsentState
from refdesk.consent.models import ConsentRecord
from refdesk.consent.selectors import consent_needed, consent_of, consent_rules
from refdesk.core.errors import ApplicationError
from refdesk.intake.choices import Stage
from refdesk.intake.models import Referral
from refdesk.outreach.choices import ApprovalState, Audience, MessagePurpose, MessageStatus
from refdesk.outreach.models import ContentVersion, Message
from refdesk.outreach.services import content_approve, content_retire, content_sync
from refdesk.outreach.sms import LocmemSMSBackend
from refdesk.programs.models import Program
from refdesk.programs.selectors import version_definition
from refdesk.routing.choices import ReviewKind, ReviewState
from refdesk.routing.models import Review
from refdesk.testing import (
    education,
    referrer_with_email,
    reviewer,
    specialist,
    submit,
    support,
    trial,
)
from refdesk.workflow import sending
from refdesk.workflow.consent import consent_expire, consent_record, consent_withdraw
from refdesk.workflow.messages import message_schedule, message_send
from refdesk.workflow.reviews import review_approve, review_reject
from refdesk.workflow.sending import message_deliver, message_id_header, messages_claim
from refdesk.workflow.sweep import housekeeping, sweep_due

pytestmark = pytest.mark.django_db

# Tuesday 8 December 2026, 14:00 UTC: 09:00 in New York, 03:00 in Honolulu, 03:00 next day in
# Auckland — some leads are in quiet hours from the start.
BASE = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
TICK = timedelta(seconds=1)
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)

# None: no time zone given (education: the program's business zone; patient-support infers it
# from the phone number). Half-hour and 45-minute offsets and both hemispheres' summer time.
ZONES = (
    "America/Chicago",
    "Pacific/Honolulu",
    "Europe/London",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "Pacific/Auckland",
    "America/Los_Angeles",
    None,
)
LEAD_KINDS = ("education", "clinical_question", "support", "trial")
PROGRAM_OF = {
    "education": "provider-education",
    "clinical_question": "provider-education",
    "support": "patient-support",
    "trial": "trial-prescreening",
}
LEAD_TEMPLATE = {
    "education": "treatment-education-materials",
    "clinical_question": "clinical-question-receipt",
    "support": "support-callback-intro",
    "trial": "trial-prescreen-intro",
}
# The content the events approve, retire and let expire: the referrers' acknowledgements, the
# lead templates above and the material the treatment-education message links to.
CONTENT = (
    ("provider-education", "template", "education-referral-received"),
    ("provider-education", "template", "treatment-education-materials"),
    ("provider-education", "template", "clinical-question-receipt"),
    ("provider-education", "material", "nsclc-treatment-overview"),
    ("patient-support", "template", "support-referral-received"),
    ("patient-support", "template", "support-callback-intro"),
    ("trial-prescreening", "template", "trial-referral-received"),
    ("trial-prescreening", "template", "trial-prescreen-intro"),
)
PATIENT_CHANNELS = ("email", "phone", "sms")
MESSAGE_CHANNELS = ("email", "sms", "phone")


# --- the oracle ---------------------------------------------------------------------------------


def consent_at(referral: Referral, moment: datetime):
    """The permission in force at ``moment``: the newest record made by then, read at then.
    (``consent_current(referral, now=...)`` reads the newest record of all, which after the
    run may have been made later than the message.)"""
    record = (
        ConsentRecord.objects.filter(referral=referral, recorded_at__lte=moment)
        .order_by("-recorded_at", "-id")
        .first()
    )
    needed = consent_needed(consent_rules(referral), referral.lead_kind)
    return consent_of(record, needed=needed, now=moment)


def _approval_problems(version: ContentVersion | None, moment: datetime, what: str) -> list[str]:
    if version is None:
        return [f"{what}: no template version recorded"]
    problems = []
    if version.approved_at is None or version.approved_at > moment:
        problems.append(f"{what} {version.key} v{version.version}: not approved yet")
    if version.expires_at is None or moment >= version.expires_at:
        problems.append(f"{what} {version.key} v{version.version}: approval expired")
    if version.retired_at is not None and version.retired_at <= moment:
        problems.append(f"{what} {version.key} v{version.version}: retired")
    return problems


def send_violations(message: Message) -> list[str]:
    """Why ``message`` should not have gone out when it did (empty: it was allowed)."""
    at = message.sent_at
    if at is None:
        return ["sent without a sending time"]
    problems = _approval_problems(message.template, at, "template")
    if message.template is not None and message.template.key != message.template_key:
        problems.append("template: another template's version was sent")
    for material in message.materials.all() if message.pk else ():
        problems += _approval_problems(material, at, "material")
    if message.audience != Audience.LEAD:
        return problems
    referral = message.referral
    definition = version_definition(referral.program_version)
    # 1. consent in force, covering the channel and the program's contact purpose
    rules = consent_rules(referral)
    if consent_needed(rules, referral.lead_kind):
        consent = consent_at(referral, at)
        purpose = next(iter(rules.purposes))
        if consent.state != ConsentState.GRANTED:
            problems.append(f"consent {consent.state}")
        elif message.channel not in consent.channels:
            problems.append(f"consent does not cover {message.channel}")
        elif purpose not in consent.purposes:
            problems.append(f"consent does not cover {purpose}")
    # 2. not in quiet hours where the lead lives
    zone = ZoneInfo(referral.lead_timezone or definition.business_timezone() or "UTC")
    local = at.astimezone(zone).time()
    if local >= QUIET_FROM or local < QUIET_UNTIL:
        problems.append(f"quiet hours: {local:%H:%M} in {zone.key}")
    # 4. no review pending (or rejected) then, and the referral open
    reviews = Review.objects.filter(referral=referral, requested_at__lte=at)
    if reviews.filter(Q(decided_at__isnull=True) | Q(decided_at__gt=at)).exists():
        problems.append("a medical review was pending")
    if reviews.filter(state=ReviewState.REJECTED, decided_at__lte=at).exists():
        problems.append("a medical review was rejected")
    if referral.closed_at is not None and referral.closed_at <= at:
        problems.append("the referral was closed")
    return problems


def sent_messages() -> list[Message]:
    return list(
        Message.objects.filter(status=MessageStatus.SENT)
        .select_related("template", "referral", "referral__program_version")
        .prefetch_related("materials")
        .order_by("sent_at", "id")
    )


def outbox_problems(sent: list[Message], lead_addresses: set[str]) -> list[str]:
    """What left through a backend matches the sent rows exactly: nothing reached a lead
    without a sent message behind it, and nothing was sent twice."""
    problems = []
    sent_email = {message_id_header(m): m for m in sent if m.channel == "email"}
    seen: dict[str, int] = {}
    for email in mail.outbox:
        header = email.extra_headers.get("Message-ID")
        if header in sent_email:
            seen[header] = seen.get(header, 0) + 1
        elif set(email.to) & lead_addresses:
            problems.append("an email reached a lead without a sent message")
    problems += ["an email was sent twice" for count in seen.values() if count > 1]
    if len(seen) != len(sent_email):
        problems.append("a sent email message is not in the outbox")
    sms_keys = [entry["idempotency_key"] for entry in LocmemSMSBackend.outbox]
    sent_sms = sorted(m.idempotency_key for m in sent if m.channel == "sms")
    if sorted(sms_keys) != sent_sms:
        problems.append("the text messages sent do not match the sent rows")
    return problems


def observe(what: str) -> None:
    """Count it in hypothesis' statistics (--hypothesis-show-statistics) inside the property."""
    if currently_in_test_context():
        event(what)


def lead_template(referral: Referral) -> str:
    if referral.request_type == "clinical_question":
        return LEAD_TEMPLATE["clinical_question"]
    kind = next(k for k, slug in PROGRAM_OF.items() if slug == referral.program.slug)
    return LEAD_TEMPLATE[kind]


# --- the world ------------------------------------------------------------------------------------


class WorkerDied(BaseException):
    """The process ended mid-call (nothing in refdesk catches it)."""


class World:
    """One example's referrals and clock. Every event runs at its own frozen second."""

    def __init__(self):
        self.now = BASE
        self.referrals: list[Referral] = []
        self.lead_addresses: set[str] = set()
        self.approver = reviewer("ava.approver")
        self.medical = reviewer("rui.reviewer")
        self.sender = specialist()
        for program in set(PROGRAM_OF.values()):
            referrer_with_email(program)

    def at(self):
        self.now += TICK
        return time_machine.travel(self.now, tick=False)

    # content

    def content(self, index: int) -> tuple[Program, str, str]:
        slug, kind, key = CONTENT[index % len(CONTENT)]
        return Program.objects.get(slug=slug), kind, key

    def approve_all(self, age_days: int) -> None:
        """Approve every draft ``age_days`` ago (so approvals expire during some examples)."""
        moment = self.now - timedelta(days=age_days)
        with time_machine.travel(moment, tick=False):
            drafts = ContentVersion.objects.filter(state=ApprovalState.DRAFT).order_by("id")
            for draft in drafts:
                content_approve(content=draft, approver=self.approver, note="approved", now=moment)

    def approve(self, index: int) -> None:
        """A new version of the content is drafted (its file changed) and approved."""
        program, kind, key = self.content(index)
        with self.at():
            latest = (
                ContentVersion.objects.filter(program=program, kind=kind, key=key)
                .order_by("-created_at", "-id")
                .first()
            )
            assert latest is not None, f"{key} is not in the {program.slug} program"
            draft = ContentVersion.objects.filter(
                program=program, kind=kind, key=key, state=ApprovalState.DRAFT
            ).first()
            if draft is None:
                block = copy.deepcopy(latest.definition)
                block["version"] = int(block.get("version") or 1) + 1
                section = "templates" if kind == "template" else "materials"
                (draft,) = content_sync(
                    program=program, definition={section: {key: block}}, actor="system:test"
                )
            content_approve(content=draft, approver=self.approver, note="re-approved")

    def retire(self, index: int) -> None:
        program, kind, key = self.content(index)
        with self.at():
            for row in ContentVersion.objects.filter(
                program=program, kind=kind, key=key, state=ApprovalState.APPROVED
            ):
                content_retire(content=row, actor=self.approver, reason="withdrawn from use")

    # leads

    def submit(self, kind: str, zone: str | None, preferred: str, channels: tuple[str, ...]):
        n = len(self.referrals) + 1
        if kind in ("education", "clinical_question"):
            # a clinical question waits for medical review; treatment education links materials
            request_type = kind if kind == "clinical_question" else "treatment_education"
            submission = education(n, request_type=request_type)
            lead = dict(submission.lead)
        elif kind == "support":
            submission = support(n, channels=channels)
            lead = {**submission.lead, "email": f"supported{n}@example.org"}
            lead["preferred_contact"] = preferred
        else:
            submission = trial(n)
            lead = {**submission.lead, "preferred_contact": preferred}
            submission = replace(submission, consent={**submission.consent, "channels": channels})
        if zone is None:
            lead.pop("timezone", None)
        else:
            lead["timezone"] = zone
        with self.at():
            referral = submit(PROGRAM_OF[kind], replace(submission, lead=lead))
        self.referrals.append(referral)
        if lead.get("email"):
            self.lead_addresses.add(lead["email"])
        observe(f"lead {kind} routed to {referral.stage}")

    def referral(self, index: int) -> Referral | None:
        if not self.referrals:
            return None
        referral = self.referrals[index % len(self.referrals)]
        referral.refresh_from_db()
        return referral

    # events

    def consent(self, index: int, channels: tuple[str, ...]) -> None:
        referral = self.referral(index)
        if referral is None or consent_rules(referral) is None or referral.stage == Stage.CLOSED:
            return
        rules = consent_rules(referral)
        with self.at():
            consent_record(
                referral=referral,
                purposes=list(rules.purposes),
                channels=channels,
                method="verbal_recorded",
                text_version=max(rules.texts, key=lambda text: text.published).version,
                actor=self.sender,
            )

    def withdraw(self, index: int, channels: tuple[str, ...] | None) -> None:
        referral = self.referral(index)
        if referral is None or consent_rules(referral) is None:
            return
        with self.at():
            current = consent_at(referral, self.now)
            if current.state != ConsentState.GRANTED:
                return
            wanted = None if channels is None else [c for c in channels if c in current.channels]
            if wanted == []:
                return
            consent_withdraw(
                referral=referral, actor=self.sender, reason="lead_request", channels=wanted
            )

    def expire(self, index: int) -> None:
        referral = self.referral(index)
        if referral is not None:
            with self.at():
                consent_expire(referral=referral)

    def decide_review(self, index: int, approve: bool) -> None:
        referral = self.referral(index)
        if referral is None:
            return
        with self.at():
            for review in Review.objects.filter(referral=referral, state=ReviewState.PENDING):
                if approve:
                    review_approve(review=review, reviewer=self.medical, note="reviewed, fine")
                else:
                    review_reject(review=review, reviewer=self.medical, reason="out of scope")

    def schedule(self, index: int, channel: str, delay_hours: int) -> None:
        referral = self.referral(index)
        if referral is None:
            return
        with self.at():
            message_schedule(
                referral=referral,
                template_key=lead_template(referral),
                purpose=MessagePurpose.MANUAL,
                audience=Audience.LEAD,
                channel=channel,
                actor=self.sender,
                due_at=self.now + timedelta(hours=delay_hours),
            )

    def send_now(self, index: int, channel: str) -> None:
        referral = self.referral(index)
        if referral is None:
            return
        with self.at():
            try:
                message_send(
                    referral=referral,
                    template_key=lead_template(referral),
                    channel=channel,
                    user=self.sender,
                )
            except ApplicationError as refused:
                observe(f"staff send refused: {refused.code}")

    def wait(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    def near_expiry(self, which: str, minutes: int) -> None:
        """Jump to just before or after the next approval or consent expiry (if one is ahead)."""
        if which == "content":
            upcoming = ContentVersion.objects.filter(
                state=ApprovalState.APPROVED, expires_at__gt=self.now
            )
        else:
            upcoming = ConsentRecord.objects.filter(granted=True, expires_at__gt=self.now)
        soonest = upcoming.order_by("expires_at").values_list("expires_at", flat=True).first()
        if soonest is not None:
            self.now = max(self.now, soonest + timedelta(minutes=minutes))

    def sweep(self) -> None:
        with self.at():
            sweep_due()

    def worker_dies(self) -> None:
        """A worker claims the next due message and dies during the backend call, before the
        provider took it: the row is left ``sending`` and the next claim after the lease sends
        it again."""
        with self.at():
            claimed = messages_claim(now=self.now, limit=1)
            for pk, lease in claimed:
                with mock.patch.object(sending, "_call_backend", side_effect=WorkerDied):
                    try:
                        message_deliver(pk, lease=lease)
                    except WorkerDied:
                        observe("a worker died mid-send")

    def housekeeping(self) -> None:
        with self.at():
            housekeeping()


# --- strategies -----------------------------------------------------------------------------------

channel_sets = st.lists(st.sampled_from(PATIENT_CHANNELS), min_size=1, unique=True).map(tuple)
leads = st.tuples(
    st.sampled_from(LEAD_KINDS),
    st.sampled_from(ZONES),
    st.sampled_from(PATIENT_CHANNELS),
    channel_sets,
)
index = st.integers(0, 5)
sweep_after_waiting = st.tuples(st.just("wait"), st.integers(1, 30))
actions = st.one_of(
    st.tuples(st.just("submit"), leads),
    sweep_after_waiting,
    sweep_after_waiting,
    st.tuples(st.just("wait_days"), st.integers(1, 40)),
    st.tuples(
        st.just("near_expiry"), st.sampled_from(["content", "consent"]), st.integers(-90, 90)
    ),
    st.tuples(st.just("sweep")),
    st.tuples(st.just("schedule"), index, st.sampled_from(MESSAGE_CHANNELS), st.integers(0, 14)),
    st.tuples(st.just("send_now"), index, st.sampled_from(MESSAGE_CHANNELS)),
    st.tuples(st.just("consent"), index, channel_sets),
    st.tuples(st.just("withdraw"), index, st.none() | channel_sets),
    st.tuples(st.just("expire"), index),
    st.tuples(st.just("housekeeping")),
    st.tuples(st.just("worker_dies")),
    st.tuples(st.just("review"), index, st.sampled_from([True, True, False])),
    st.tuples(st.just("approve_content"), st.integers(0, len(CONTENT) - 1)),
    st.tuples(st.just("retire_content"), st.integers(0, len(CONTENT) - 1)),
)


def play(world: World, action: tuple) -> None:
    name, *args = action
    if name == "submit":
        world.submit(*args[0])
    elif name == "wait":
        world.wait(args[0])
        world.sweep()
    elif name == "wait_days":
        world.wait(24 * args[0])
    elif name == "near_expiry":
        world.near_expiry(*args)
    elif name == "sweep":
        world.sweep()
    elif name == "schedule":
        world.schedule(*args)
    elif name == "send_now":
        world.send_now(*args)
    elif name == "consent":
        world.consent(*args)
    elif name == "withdraw":
        world.withdraw(*args)
    elif name == "expire":
        world.expire(*args)
    elif name == "housekeeping":
        world.housekeeping()
    elif name == "worker_dies":
        world.worker_dies()
    elif name == "review":
        world.decide_review(*args)
    elif name == "approve_content":
        world.approve(*args)
    elif name == "retire_content":
        world.retire(*args)
    else:  # pragma: no cover - a strategy without a player
        raise AssertionError(name)


def start(approved_days_ago: int | None) -> World:
    mail.outbox.clear()
    LocmemSMSBackend.outbox.clear()
    world = World()
    if approved_days_ago is not None:
        world.approve_all(approved_days_ago)
    return world


def check_every_send(world: World) -> list[Message]:
    sent = sent_messages()
    problems = {m.public_id: send_violations(m) for m in sent}
    assert not {k: v for k, v in problems.items() if v}, problems
    assert not outbox_problems(sent, world.lead_addresses)
    return sent


# --- the property ---------------------------------------------------------------------------------


@settings(max_examples=40, database=None)
@given(
    approved_days_ago=st.none() | st.integers(0, 20) | st.integers(350, 366),
    first_leads=st.lists(leads, min_size=1, max_size=3),
    events=st.lists(actions, max_size=25),
)
def test_no_message_goes_out_that_was_not_allowed_when_it_went(
    approved_days_ago, first_leads, events
):
    with transaction.atomic():
        world = start(approved_days_ago)
        for lead in first_leads:
            world.submit(*lead)
        for action in events:
            play(world, action)
        world.wait(1)
        world.sweep()  # whatever is due by now goes (or not) under the same checks
        sent = check_every_send(world)
        lead_sent = sum(1 for m in sent if m.audience == Audience.LEAD)
        target(float(lead_sent), label="lead messages sent")
        event(f"lead messages sent: {min(lead_sent, 3)}{'+' if lead_sent >= 3 else ''}")
        event(f"referrer messages sent: {'some' if len(sent) > lead_sent else 'none'}")
        for status, reason in (
            Message.objects.exclude(status=MessageStatus.SENT)
            .values_list("status", "reason")
            .distinct()
        ):
            event(f"message {status}: {reason or '-'}")  # the gates the example exercised
        transaction.set_rollback(True)


# --- the machine is not vacuous -------------------------------------------------------------------


def test_when_everything_allows_it_each_kind_of_lead_is_sent_messages():
    world = start(approved_days_ago=0)
    world.submit("education", "Asia/Kolkata", "email", ("email",))
    world.submit("support", "Pacific/Auckland", "sms", ("sms", "phone"))
    world.submit("trial", "America/Chicago", "email", ("email", "phone"))
    world.submit("clinical_question", None, "email", ("email",))
    for position in (1, 2):
        world.schedule(position, "sms" if position == 1 else "email", 0)
    for _ in range(4):  # a day in steps: each lead's quiet hours end at some point
        world.wait(6)
        world.sweep()
    world.decide_review(3, approve=True)  # 09:00 in New York (the program's zone)
    world.wait(2)
    world.sweep()
    sent = check_every_send(world)
    by_lead = {m.referral_id for m in sent if m.audience == Audience.LEAD}
    assert by_lead == {referral.pk for referral in world.referrals}
    assert {m.channel for m in sent if m.audience == Audience.LEAD} == {"email", "sms"}
    assert sum(1 for m in sent if m.audience == Audience.REFERRER) == 4


def test_the_oracle_notices_each_kind_of_forbidden_send():
    world = start(approved_days_ago=0)
    world.submit("support", "Europe/London", "sms", ("sms",))
    world.schedule(0, "sms", 0)
    world.wait(1)
    world.sweep()
    (message,) = [m for m in sent_messages() if m.audience == Audience.LEAD]
    assert send_violations(message) == []
    london_night = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)
    forged = {
        "quiet hours: 02:00 in Europe/London": {"sent_at": london_night},
        "consent does not cover email": {"channel": "email"},
        "consent not_granted": {"sent_at": message.referral.received_at - timedelta(hours=1)},
    }
    for problem, values in forged.items():
        copy_ = Message(**{**_fields(message), **values})
        assert problem in send_violations(copy_), problem
    template = message.template
    ContentVersion.objects.filter(pk=template.pk).update(retired_at=message.sent_at)
    message.template.refresh_from_db()
    assert any("retired" in p for p in send_violations(message))
    ContentVersion.objects.filter(pk=template.pk).update(
        retired_at=None, expires_at=message.sent_at
    )
    message.template.refresh_from_db()
    assert any("expired" in p for p in send_violations(message))
    ContentVersion.objects.filter(pk=template.pk).update(
        expires_at=message.sent_at + timedelta(days=1), approved_at=message.sent_at + TICK
    )
    message.template.refresh_from_db()
    assert any("not approved yet" in p for p in send_violations(message))
    Review.objects.create(
        referral=message.referral,
        kind=ReviewKind.MEDICAL_REVIEW,
        requested_at=message.sent_at - TICK,
    )
    assert "a medical review was pending" in send_violations(message)


def _fields(message: Message) -> dict:
    names = ("referral", "template", "template_key", "purpose", "audience", "channel", "sent_at")
    return {name: getattr(message, name) for name in names}


# --- found by the property: a send interrupted mid-call was resent unchecked ---------------------


def withdraw_everything(world: World) -> None:
    world.withdraw(0, None)


def retire_the_template(world: World) -> None:
    world.retire(CONTENT.index(("patient-support", "template", "support-callback-intro")))


def wait_until_night(world: World) -> None:
    world.now = datetime(2026, 12, 9, 5, 0, tzinfo=UTC)  # 22:00 in Denver, the lead's zone


@pytest.mark.parametrize(
    ("meanwhile", "reason"),
    [
        (withdraw_everything, "referral_closed"),
        (retire_the_template, "template_not_approved"),
        (wait_until_night, "quiet_hours"),
    ],
)
def test_a_send_interrupted_mid_call_is_checked_again_before_it_is_resent(meanwhile, reason):
    world = start(approved_days_ago=0)
    world.submit("support", "America/Denver", "sms", ("sms",))
    world.wait(4)  # 11:00 in Denver
    world.sweep()  # the referrer's acknowledgement goes
    world.schedule(0, "sms", 0)
    world.worker_dies()
    (message,) = Message.objects.filter(audience=Audience.LEAD)
    assert message.status == MessageStatus.SENDING
    meanwhile(world)
    world.wait(1)  # the lease lapses
    world.sweep()
    message.refresh_from_db()
    assert (message.status, message.reason) == (
        MessageStatus.SCHEDULED if reason == "quiet_hours" else MessageStatus.REFUSED,
        reason,
    )
    assert LocmemSMSBackend.outbox == []
    check_every_send(world)


def test_a_send_interrupted_mid_call_goes_again_under_its_key_when_still_allowed():
    world = start(approved_days_ago=0)
    world.submit("support", "America/Denver", "sms", ("sms",))
    world.wait(4)
    world.sweep()
    world.schedule(0, "sms", 0)
    world.worker_dies()
    world.wait(1)
    world.sweep()
    (message,) = Message.objects.filter(audience=Audience.LEAD)
    assert (message.status, message.tries) == (MessageStatus.SENT, 2)
    assert [sms["idempotency_key"] for sms in LocmemSMSBackend.outbox] == [message.idempotency_key]
    (sent,) = [
        audit.changes
        for audit in AuditEvent.objects.filter(action="message.sent")
        if str(message.public_id) in str(audit.changes.get("message"))
    ]
    assert sent["resent_after_interruption"] == {"old": None, "new": True}
    check_every_send(world)
