"""The access policy: who may see which queues, which referral fields and take which actions.

Deny by default: a rule that is not in ``POLICY`` is refused, an anonymous or inactive user is
refused everything, a role not named below gets nothing. Views never ask this module directly for
protected objects; they go through ``refdesk.access.selectors`` (the one helper per object),
which uses ``referral_visibility`` / ``queue_visibility`` here, so "may see" is decided in one
place.

"Works a referral" means: a member of the team owning the referral's queue, or of a team whose
queue received a notice about it (``drug-safety`` for a possible adverse event).

=================  ===========  ==================  =============  ============================
role               queues       patient leads:      clinician /    actions (on referrals they
                   (desk list)  identity + answers  org leads      work; state checks in the
                                                    identity       services)
=================  ===========  ==================  =============  ============================
patient-services   own teams    shown (audited)     shown          claim, assign, log contact,
agent                                                              request info, qualify /
                                                                   disqualify, re-route, close,
                                                                   record or withdraw consent
clinical-ops       own teams    shown (audited)     shown          as agent + record prescreen
coordinator
medical-affairs    own teams    shown (audited)     shown          as agent
specialist
medical reviewer   own teams    shown (audited)     shown          as agent + approve / reject
                                                                   review
commercial rep     own teams    NEVER: patient      shown          as agent, on clinician and
                                leads are not                      organisation leads only
                                visible at all
program owner      own teams    masked              masked         assign (next available or a
                                                                   chosen member), re-route
drug-safety        none         shown (audited),    shown          none on the referral; on
officer                         on referrals                       its drug-safety notices:
                                noticed to their                   acknowledge, triage
                                team
compliance         all (read)   masked              masked         none (read-only: audit
auditor                                                            trail and reports)
administrator      own teams    masked              masked         none in the desk; manages
                   (read)                                          configuration in the admin
anonymous /        none         none                none           none
inactive / no role
=================  ===========  ==================  =============  ============================

Why: patient identifying data is for the people who contact patients (minimum necessary). The
program owner supervises (assigns, re-routes) and reads reports; the auditor and administrator
check and configure — none of them needs a patient's name. A medical reviewer is not a
specialist's second pair of hands: only the reviewer signs reviews off (separation of duties).
Choosing WHO works a referral (``assign_to``) is the supervisor's call: lead workers are peers
(the clinical-ops coordinator included: "as agent"), take work by claim or the fair rotation,
and could otherwise take a colleague's referral by assigning it to themselves — the claim
guard would mean nothing. Work only ever goes to someone who may work it (``assignee_roles``).
The drug-safety officer (pharmacovigilance) reads a referral only through a notice sent to
their team's queue: the reporter and the reported text are what a safety case needs, so the
lead is shown (audited). They never work the referral itself (no claim, contact or close; never
given work by assignment) — their actions are on the notice (``notice.*`` rules).
Masked means the value is replaced by ``MASK``; non-identifying lead fields (preferred channel,
time zone, country, language, specialty) stay visible to everyone who may see the referral.

Templates and materials (``content.*``, on a ``Program``) are wording, not patient data: the
program owner, medical reviewer, auditor and administrator read every program's, other staff
their owner team's; only the medical reviewer and the program owner approve or retire them
(never their own wording: the service checks the author). The development outbox
(``outbox.view``) is for lead workers, program owners and administrators; it lists messages of
the referrals they may see, their text only where they see the lead.

Reports (``reports.view``) are aggregates — counts, rates, durations, never a lead's data —
for the program owner, the compliance auditor, the administrator and the commercial rep (who
sees counts of patient referrals, never one of them). Only the program owner and the
administrator also see the references of the work behind a figure (``reports.drill_down``:
the oldest open referrals); owner, auditor and administrator export the review pack, small
numbers suppressed (``reports.export``).

The audit trail (``audit.read``: search it, a referral's full history with who viewed it;
``audit.verify``: start a walk of the chain; ``audit.export``: a signed extract) is for the
compliance auditor and the administrator, and nobody else. The trail holds codes, staff names
and keyed fingerprints of patient values, never the values, so reading it masks nothing more.

The schedule pages (``agenda.*``, ``team.supervise``, ``calendar.feed``) are for those who hold
appointments (lead workers) and program owners. Anyone of them reads their own agenda, sets
their own hours and time off, and has a private calendar feed; a team's agenda is for its
members; a colleague's agenda, and a team's default hours and holidays, for whoever supervises
the team: its leads (``TeamMembership.lead``) and the program owners in it. A lead worker who
never sees patient leads (the commercial rep) sees no appointment with one in any agenda.
"""

from __future__ import annotations

from typing import Any

import rules
from django.db.models import Exists, OuterRef, Q

from refdesk.accounts.choices import Role
from refdesk.accounts.models import TeamMembership
from refdesk.accounts.roles import (
    LEAD_WORKERS,
    PATIENT_LEADS_HIDDEN_FROM,
)
from refdesk.routing.models import QueueNotice

MASK = "•••••"

# Lead fields that identify nobody on their own (kept in clear columns for routing anyway).
NON_IDENTIFYING_LEAD_FIELDS = frozenset(
    {"preferred_contact", "timezone", "country", "language", "specialty"}
)

# Roles that see the queues of their own teams; the auditor reads every queue.
TEAM_QUEUE_ROLES = LEAD_WORKERS | {Role.PROGRAM_OWNER, Role.ADMINISTRATOR}
ALL_QUEUE_ROLES = frozenset({Role.COMPLIANCE_AUDITOR})

# Action -> roles that may take it (on a referral they work). Nothing else may act.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "claim": LEAD_WORKERS,
    "assign": LEAD_WORKERS | {Role.PROGRAM_OWNER},  # to the next available member (fair)
    "assign_to": frozenset({Role.PROGRAM_OWNER}),  # to a member the supervisor chooses
    "log_contact": LEAD_WORKERS,
    "send_message": LEAD_WORKERS,
    "request_info": LEAD_WORKERS,
    "record_prescreen": frozenset({Role.CLINICAL_OPS_COORDINATOR}),
    "qualify": LEAD_WORKERS,
    "disqualify": LEAD_WORKERS,
    "reroute": LEAD_WORKERS | {Role.PROGRAM_OWNER},
    "approve_review": frozenset({Role.MEDICAL_REVIEWER}),
    "reject_review": frozenset({Role.MEDICAL_REVIEWER}),
    "close": LEAD_WORKERS,
    # Consent heard on a call or a withdrawal the lead asks for: whoever contacts leads.
    "record_consent": LEAD_WORKERS,
    "withdraw_consent": LEAD_WORKERS,
    # Appointments: whoever contacts leads books, moves, cancels and records attendance.
    "schedule": LEAD_WORKERS,
    "reschedule": LEAD_WORKERS,
    "cancel_appointment": LEAD_WORKERS,
    "record_attendance": LEAD_WORKERS,
}
ACTIONS = tuple(ACTION_ROLES)

# Roles that work drug-safety notices (``QueueNotice`` of their team's queue); nobody else sees
# them. They read the noticed referral, lead included, and nothing else.
NOTICE_ROLES = frozenset({Role.DRUG_SAFETY_OFFICER})
NOTICE_ACTIONS = ("acknowledge", "triage")

# Templates and materials (objects: ``Program``; its content versions). Not patient data: the
# sign-off roles and the checkers read every program's; other staff read their owner team's.
# Approving and retiring is the sign-off roles' (the service adds: never the author).
CONTENT_READ_ALL_ROLES = frozenset(
    {Role.PROGRAM_OWNER, Role.MEDICAL_REVIEWER, Role.COMPLIANCE_AUDITOR, Role.ADMINISTRATOR}
)
CONTENT_SIGN_OFF_ROLES = frozenset({Role.MEDICAL_REVIEWER, Role.PROGRAM_OWNER})
# The reports pages (``reports.*``): see the rules below.
REPORT_EXPORT_ROLES = frozenset({Role.PROGRAM_OWNER, Role.COMPLIANCE_AUDITOR, Role.ADMINISTRATOR})
REPORT_ROLES = REPORT_EXPORT_ROLES | {Role.COMMERCIAL_REP}
REPORT_DRILL_DOWN_ROLES = frozenset({Role.PROGRAM_OWNER, Role.ADMINISTRATOR})
CONTENT_ACTIONS = ("approve", "retire")
# The development outbox (messages as rendered; ``settings.REFDESK_OUTBOX``): those who follow
# up leads and those who supervise or configure it. Message text only where the lead is shown.
OUTBOX_ROLES = LEAD_WORKERS | {Role.PROGRAM_OWNER, Role.ADMINISTRATOR}
# Agenda, availability and the private calendar feed: who holds appointments, who supervises.
SCHEDULE_ROLES = LEAD_WORKERS | {Role.PROGRAM_OWNER}
# The audit trail in the console: those who check (the auditor) and configure (administrator).
AUDIT_ROLES = frozenset({Role.COMPLIANCE_AUDITOR, Role.ADMINISTRATOR})
AUDIT_ACTIONS = ("read", "verify", "export")


# --- facts about the user (cached on the user object for the request) -----------------------


def is_staff_user(user) -> bool:
    """Logged in, active and holding a known role: the precondition of every rule."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and user.is_active
        and user.role in Role.values
    )


def team_ids(user) -> frozenset[int]:
    """The ids of the user's teams (one query, then cached on the user for the request)."""
    cached = getattr(user, "_policy_team_ids", None)
    if cached is None:
        cached = frozenset(
            TeamMembership.objects.filter(user_id=user.pk).values_list("team_id", flat=True)
        )
        user._policy_team_ids = cached
    return cached


def lead_team_ids(user) -> frozenset[int]:
    """The ids of the teams the user leads (one query, then cached like ``team_ids``)."""
    cached = getattr(user, "_policy_lead_team_ids", None)
    if cached is None:
        cached = frozenset(
            TeamMembership.objects.filter(user_id=user.pk, lead=True).values_list(
                "team_id", flat=True
            )
        )
        user._policy_lead_team_ids = cached
    return cached


def supervised_team_ids(user) -> frozenset[int]:
    """The teams whose schedules the user supervises: a program owner every team they are in,
    anyone else the teams they lead."""
    if not is_staff_user(user):
        return frozenset()
    return team_ids(user) if user.role == Role.PROGRAM_OWNER else lead_team_ids(user)


def has_role(*roles: str) -> rules.Predicate:
    allowed = frozenset(roles)

    @rules.predicate(name=f"has_role({','.join(sorted(allowed))})")
    def check(user, obj=None) -> bool:
        return is_staff_user(user) and user.role in allowed

    return check


# --- predicates on objects -------------------------------------------------------------------


@rules.predicate
def member_of_queue_team(user, queue) -> bool:
    return queue is not None and is_staff_user(user) and queue.team_id in team_ids(user)


@rules.predicate
def works_referral(user, referral) -> bool:
    """A member of the team owning the referral's queue or a queue notified about it."""
    if not is_staff_user(user):
        return False
    teams = team_ids(user)
    if referral.queue_id is not None and referral.queue.team_id in teams:
        return True
    return noticed_to_team(user, referral)


@rules.predicate
def noticed_to_team(user, referral) -> bool:
    """A queue of one of the user's teams received a notice about the referral."""
    if not is_staff_user(user):
        return False
    teams = team_ids(user)
    notice_teams = getattr(referral, "_policy_notice_team_ids", None)
    if notice_teams is None:
        notice_teams = frozenset(
            QueueNotice.objects.filter(referral_id=referral.pk).values_list(
                "queue__team_id", flat=True
            )
        )
        referral._policy_notice_team_ids = notice_teams
    return bool(notice_teams & teams)


@rules.predicate
def member_of_notice_team(user, notice) -> bool:
    return notice is not None and member_of_queue_team(user, notice.queue)


@rules.predicate
def member_of_owner_team(user, program) -> bool:
    """A member of the team owning the program (``Program.owner_team``)."""
    return program is not None and is_staff_user(user) and program.owner_team_id in team_ids(user)


@rules.predicate
def member_of_team(user, team) -> bool:
    return team is not None and is_staff_user(user) and team.pk in team_ids(user)


@rules.predicate
def supervises_team(user, team) -> bool:
    return team is not None and team.pk in supervised_team_ids(user)


@rules.predicate
def supervises_member(user, member) -> bool:
    """The user is the member, or supervises a team the member is in."""
    if member is None or not is_staff_user(user):
        return False
    return member.pk == user.pk or bool(team_ids(member) & supervised_team_ids(user))


@rules.predicate
def is_patient_lead(user, referral) -> bool:
    return referral.lead_kind == "patient"


works_leads = has_role(*LEAD_WORKERS)
# Lead workers without patient-data rights (the commercial rep) never see a patient lead at all
# (PATIENT_LEADS_HIDDEN_FROM): not in lists, not by id. Supervisors see it with the identity masked.
lead_kind_allowed = ~(is_patient_lead & has_role(*PATIENT_LEADS_HIDDEN_FROM))

POLICY = rules.RuleSet()
POLICY.add_rule("queue.view_all", has_role(*ALL_QUEUE_ROLES))
POLICY.add_rule(
    "queue.view", has_role(*ALL_QUEUE_ROLES) | (has_role(*TEAM_QUEUE_ROLES) & member_of_queue_team)
)
reads_notices = has_role(*NOTICE_ROLES)
POLICY.add_rule(
    "referral.view",
    has_role(*ALL_QUEUE_ROLES)
    | (has_role(*TEAM_QUEUE_ROLES) & works_referral & lead_kind_allowed)
    | (reads_notices & noticed_to_team),
)
# Identity (name, email, phone, birth year, NPI) and answers of the lead.
POLICY.add_rule(
    "referral.view_lead",
    (works_leads & works_referral & lead_kind_allowed) | (reads_notices & noticed_to_team),
)
# Drug-safety notices (objects: ``QueueNotice``): their team's officers only.
POLICY.add_rule("notice.view", reads_notices & member_of_notice_team)
for _action in NOTICE_ACTIONS:
    POLICY.add_rule(f"notice.{_action}", reads_notices & member_of_notice_team)
for _action, _roles in ACTION_ROLES.items():
    POLICY.add_rule(f"referral.{_action}", has_role(*_roles) & works_referral & lead_kind_allowed)
# A program's templates and materials (objects: ``Program``).
POLICY.add_rule("content.view", has_role(*CONTENT_READ_ALL_ROLES) | member_of_owner_team)
for _action in CONTENT_ACTIONS:
    POLICY.add_rule(f"content.{_action}", has_role(*CONTENT_SIGN_OFF_ROLES))
# The development outbox (no object: its rows are messages of referrals the user may see).
POLICY.add_rule("outbox.view", has_role(*OUTBOX_ROLES))
# The schedule pages. No object: one's own agenda, hours, time off and feed. A ``Team``: its
# agenda (members), its default hours and holidays (who supervises it). A ``User``: their agenda.
schedules = has_role(*SCHEDULE_ROLES)
POLICY.add_rule("agenda.view", schedules)
POLICY.add_rule("agenda.view_team", schedules & member_of_team)
POLICY.add_rule("agenda.view_member", schedules & supervises_member)
POLICY.add_rule("team.supervise", schedules & supervises_team)
POLICY.add_rule("calendar.feed", schedules)
# Reports (no object): aggregates only — counts, rates, durations, never a lead — for those
# who review programs; the commercial rep sees the same numbers, never a patient. The referrals
# behind a figure (references of the oldest open work) for who supervises the work. Exporting
# the pack (suppressed) for owners, auditors and administrators; every export is audited.
POLICY.add_rule("reports.view", has_role(*REPORT_ROLES))
POLICY.add_rule("reports.drill_down", has_role(*REPORT_DRILL_DOWN_ROLES))
POLICY.add_rule("reports.export", has_role(*REPORT_EXPORT_ROLES))
# The audit trail (no object: the whole trail, which holds no patient value).
for _action in AUDIT_ACTIONS:
    POLICY.add_rule(f"audit.{_action}", has_role(*AUDIT_ROLES))


def has_perm(user, rule: str, obj: Any = None) -> bool:
    """The one question: may ``user`` do ``rule`` on ``obj``? Unknown rules are refused."""
    return is_staff_user(user) and POLICY.test_rule(rule, user, obj)


def allowed_actions(user, referral) -> frozenset[str]:
    """The actions the role may take on this referral (the services still check its state)."""
    return frozenset(action for action in ACTIONS if has_perm(user, f"referral.{action}", referral))


# --- the same decisions as query filters (for lists: no per-row Python checks) ----------------


def queue_visibility(user) -> Q | None:
    """A filter on ``Queue`` selecting the queues the user may see; None: no queue at all."""
    if not is_staff_user(user):
        return None
    if user.role in ALL_QUEUE_ROLES:
        return Q()
    if user.role in TEAM_QUEUE_ROLES:
        return Q(team_id__in=team_ids(user))
    return None


def referral_visibility(user) -> Q | None:
    """A filter on ``Referral`` matching ``referral.view``; None: no referral at all."""
    if not is_staff_user(user):
        return None
    if user.role in ALL_QUEUE_ROLES:
        return Q()
    if user.role not in TEAM_QUEUE_ROLES | NOTICE_ROLES:
        return None
    teams = team_ids(user)
    if not teams:
        return None
    noticed = QueueNotice.objects.filter(referral_id=OuterRef("pk"), queue__team_id__in=teams)
    if user.role in NOTICE_ROLES:
        return Q(Exists(noticed))
    visible = Q(queue__team_id__in=teams) | Q(Exists(noticed))
    if user.role in PATIENT_LEADS_HIDDEN_FROM:
        visible &= ~Q(lead_kind="patient")
    return visible


def program_content_visibility(user) -> Q | None:
    """A filter on ``Program`` matching ``content.view``; None: no program's content at all."""
    if not is_staff_user(user):
        return None
    if user.role in CONTENT_READ_ALL_ROLES:
        return Q()
    teams = team_ids(user)
    return Q(owner_team_id__in=teams) if teams else None


def notice_visibility(user) -> Q | None:
    """A filter on ``QueueNotice`` matching ``notice.view``; None: no notice at all."""
    if not is_staff_user(user) or user.role not in NOTICE_ROLES:
        return None
    teams = team_ids(user)
    return Q(queue__team_id__in=teams) if teams else None


def sees_lead_in_queue(user, queue) -> bool:
    """Whether the user sees lead identity on the rows of ``queue`` they may see: the rows are
    theirs to work (every visible row of a team queue is in the user's team)."""
    return is_staff_user(user) and user.role in LEAD_WORKERS and member_of_queue_team(user, queue)


def lead_identity_visibility(user) -> Q | None:
    """A filter on ``Referral`` matching ``referral.view_lead``: the referrals whose lead
    identity the user sees, i.e. what a search by the lead's name may find. None: none at all —
    a role that sees leads masked (supervisor, auditor, administrator) must not learn through
    search that a lead of that name exists.

    For a lead worker, ``referral.view`` and ``referral.view_lead`` are the same rule (their
    team's work, patient leads hidden from the commercial rep), so it is that filter."""
    if not sees_lead_of_visible_referrals(user):
        return None
    return referral_visibility(user)


def sees_lead_of_visible_referrals(user) -> bool:
    """Whether the user sees lead identity on every referral ``referral_visibility`` gives
    them (a lead worker is given only the referrals they work), or on none of them."""
    return is_staff_user(user) and user.role in LEAD_WORKERS
