"""The access matrix: every URL pattern of the project × every role (and anonymous).

ONE table, ``MATRIX``. Each row names URL patterns (a fully namespaced name, or a prefix ending
in ``*`` for a group such as the admin), how to build a URL for them from the test world, the
method, and the expected outcome per role. The test fails when a URL pattern exists that no row
covers (so a new route cannot ship unreviewed) and names the uncovered patterns.

Outcomes: ``ok`` (2xx), ``login`` (redirect to the login page), ``away`` (redirect elsewhere:
already signed in, or an action that redirects back after doing its work), ``404`` (not found —
also what "not permitted" looks like), ``422`` (permitted, but the empty post is not valid
input), ``401`` (API without a key), ``403`` (a webhook without its signature), ``405``.
Every request runs in a rolled-back transaction, so actions leave the world unchanged.
"""

from __future__ import annotations

import fnmatch

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone

from refdesk.audit.verification import audit_verification_start
from refdesk.testing import adverse_event_referral, make_personas, submit, trial
from refdesk.workflow.checks import manual_check_open
from refdesk.workflow.models import ManualCheck

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "agent", "coordinator", "specialist", "reviewer", "rep", "owner",
         "auditor", "admin", "safety")  # fmt: skip


def expect(anonymous, staff=None, **by_role) -> dict[str, str]:
    """Anonymous's outcome, then every staff role's (``staff``) unless named in ``by_role``."""
    result = {role: by_role.get(role, staff) for role in ROLES[1:]}
    return {"anonymous": anonymous, **result}


EVERY_STAFF = expect("login", "ok")
# The trial referral (clinical-ops queue): its team's coordinator works it, the owner (in
# clinical-ops) supervises it masked, the auditor reads it; for everyone else it does not exist.
TRIAL_READERS = expect("login", "404", coordinator="ok", owner="ok", auditor="ok")
UNKNOWN = "00000000-0000-4000-8000-000000000000"
# The schedule pages: for those who hold appointments (lead workers) and program owners.
SCHEDULE = expect("login", "ok", auditor="404", admin="404", safety="404")
# The audit trail's pages: who checks (the auditor) and who configures (the administrator).
AUDIT = expect("login", "404", auditor="ok", admin="ok")

# (patterns, method, path builder(world), expected outcome per role)
MATRIX: list[tuple[str, str, object, dict[str, str]]] = [
    # --- public -----------------------------------------------------------------------------
    ("healthz", "GET", lambda w: "/healthz", expect("ok", "ok")),
    # Readiness: the test world runs no worker, so it is not ready, for everyone alike.
    ("readyz", "GET", lambda w: "/readyz", expect("503", "503")),
    # Metrics: absent until REFDESK_METRICS_TOKEN is set (refdesk/core/tests/test_metrics.py).
    ("metrics", "GET", lambda w: "/metrics", expect("404", "404")),
    ("front_door", "GET", lambda w: "/", expect("ok", "ok")),
    ("intake:start", "GET", lambda w: f"/r/?code={w['code']}", expect("away", "away")),
    ("intake:form", "GET", lambda w: f"/r/{w['code']}", expect("ok", "ok")),
    # Tokens are signed: a forged one is not found, whoever asks.
    ("intake:thanks", "GET", lambda w: f"/r/{w['code']}/thanks/forged", expect("404", "404")),
    ("intake:complete", "GET", lambda w: f"/r/{w['code']}/complete/forged", expect("404", "404")),
    ("status:*", "GET", lambda w: "/r/status/forged", expect("404", "404")),
    # A lead's pages from a message: signed tokens too (docs/delivery.md).
    ("recipient:materials", "GET", lambda w: "/m/forged", expect("404", "404")),
    ("recipient:unsubscribe", "GET", lambda w: "/unsubscribe/forged", expect("404", "404")),
    ("recipient:book", "GET", lambda w: "/book/forged", expect("404", "404")),
    ("recipient:book_invite", "GET", lambda w: "/book/forged/invite.ics", expect("404", "404")),
    # A staff calendar feed: the token is the credential, a session adds nothing.
    ("calendar:feed", "GET", lambda w: "/calendar/forged.ics", expect("404", "404")),
    # Provider webhooks: a signature, not a session, authenticates them.
    ("hooks:*", "POST", lambda w: "/hooks/sms/status", expect("403", "403")),
    ("hooks:sms_inbound", "POST", lambda w: "/hooks/sms/inbound", expect("403", "403")),
    ("hooks:email_events", "POST", lambda w: "/hooks/email/events", expect("403", "403")),
    # --- partner API: API keys only, a staff session is no key -------------------------------
    ("api-v1:openapi-json", "GET", lambda w: "/api/v1/openapi.json", expect("ok", "ok")),
    ("api-v1:openapi-view", "GET", lambda w: "/api/v1/docs", expect("ok", "ok")),
    ("api-v1:api-root", "GET", lambda w: "/api/v1/", expect("404", "404")),
    # The published program definition (form fields, consent texts): public by design.
    (
        "api-v1:program-definition",
        "GET",
        lambda w: "/api/v1/programs/trial-prescreening",
        expect("ok", "ok"),
    ),  # fmt: skip
    ("api-v1:referral-create", "POST", lambda w: "/api/v1/referrals", expect("401", "401")),
    # Without the partner's key a referral does not exist (a session is no key).
    (
        "api-v1:referral-status",
        "GET",
        lambda w: f"/api/v1/referrals/{w['trial'].public_id}",
        expect("404", "404"),
    ),  # fmt: skip
    # --- staff login (allauth): public entry points; signed-in pages need a session -----------
    ("account_login", "GET", lambda w: "/accounts/login/", expect("ok", "away")),
    # The adapter closes signup: the page only says so.
    ("account_signup", "GET", lambda w: "/accounts/signup/", expect("ok", "away")),
    ("account_logout", "GET", lambda w: "/accounts/logout/", expect("login", "ok")),
    ("account_inactive", "GET", lambda w: "/accounts/inactive/", expect("ok", "ok")),
    ("account_reset_password", "GET", lambda w: "/accounts/password/reset/", expect("ok", "ok")),
    (
        "account_reset_password_done",
        "GET",
        lambda w: "/accounts/password/reset/done/",
        expect("ok", "ok"),
    ),  # fmt: skip
    (
        "account_reset_password_from_key_done",
        "GET",
        lambda w: "/accounts/password/reset/key/done/",
        expect("ok", "ok"),
    ),
    (
        "account_reset_password_from_key",
        "GET",
        lambda w: "/accounts/password/reset/key/1-forged/",
        expect("ok", "ok"),
    ),  # "invalid link"
    (
        "account_email_verification_sent",
        "GET",
        lambda w: "/accounts/confirm-email/",
        expect("ok", "ok"),
    ),  # fmt: skip
    (
        "account_confirm_email",
        "GET",
        lambda w: "/accounts/confirm-email/forged/",
        expect("ok", "ok"),
    ),  # the page says the link is invalid
    ("account_email", "GET", lambda w: "/accounts/email/", expect("login", "ok")),
    ("account_set_password", "GET", lambda w: "/accounts/password/set/", expect("login", "ok")),
    (
        "account_change_password",
        "GET",
        lambda w: "/accounts/password/change/",
        expect("login", "away"),
    ),  # fmt: skip
    # Re-authentication needs a password or an authenticator (the personas have neither).
    (
        "account_reauthenticate",
        "GET",
        lambda w: "/accounts/reauthenticate/",
        expect("login", "403"),
    ),  # fmt: skip
    (
        "account_request_reauthentication_code",
        "GET",
        lambda w: "/accounts/reauthenticate/code/",
        expect("login", "403"),
    ),  # fmt: skip
    (
        "account_confirm_reauthentication_code",
        "GET",
        lambda w: "/accounts/reauthenticate/code/confirm/",
        expect("login", "away"),
    ),
    (
        "account_confirm_login_code",
        "GET",
        lambda w: "/accounts/login/code/confirm/",
        expect("login", "away"),
    ),  # fmt: skip
    ("mfa_index", "GET", lambda w: "/accounts/2fa/", expect("login", "ok")),
    ("mfa_authenticate", "GET", lambda w: "/accounts/2fa/authenticate/", expect("login", "away")),
    (
        "mfa_reauthenticate",
        "GET",
        lambda w: "/accounts/2fa/reauthenticate/",
        expect("login", "403"),
    ),  # fmt: skip
    (
        "mfa_activate_totp",
        "GET",
        lambda w: "/accounts/2fa/totp/activate/",
        expect("login", "403"),
    ),  # fmt: skip
    # Nothing to deactivate or show without an authenticator.
    (
        "mfa_deactivate_totp",
        "GET",
        lambda w: "/accounts/2fa/totp/deactivate/",
        expect("login", "404"),
    ),  # fmt: skip
    (
        "mfa_view_recovery_codes",
        "GET",
        lambda w: "/accounts/2fa/recovery-codes/",
        expect("login", "404"),
    ),  # fmt: skip
    (
        "mfa_generate_recovery_codes",
        "GET",
        lambda w: "/accounts/2fa/recovery-codes/generate/",
        expect("login", "403"),
    ),  # fmt: skip
    (
        "mfa_download_recovery_codes",
        "GET",
        lambda w: "/accounts/2fa/recovery-codes/download/",
        expect("login", "404"),
    ),  # fmt: skip
    # --- admin: the administrator only -------------------------------------------------------
    # Only the administrator gets in; admin login goes through allauth (MFA), a signed-in
    # non-administrator is refused; logout is POST only.
    ("admin:login", "GET", lambda w: "/admin/login/", expect("login", "403", admin="away")),
    ("admin:logout", "GET", lambda w: "/admin/logout/", expect("away", "away", admin="405")),
    (
        "admin:autocomplete",
        "GET",
        lambda w: "/admin/autocomplete/",
        expect("login", "login", admin="403"),
    ),  # without a term and field  # fmt: skip
    # Nothing regulated is added through the admin, not even by the administrator: services do.
    ("admin:*_add", "GET", None, expect("login", "login", admin="403")),
    # ...except these (reviewed: users, groups, e-mail addresses, authenticators). Users and
    # authenticators added here are audited like user_create (accounts/admin.py).
    ("admin:accounts_user_add", "GET", None, expect("login", "login", admin="ok")),
    ("admin:auth_group_add", "GET", None, expect("login", "login", admin="ok")),
    ("admin:account_emailaddress_add", "GET", None, expect("login", "login", admin="ok")),
    ("admin:mfa_authenticator_add", "GET", None, expect("login", "login", admin="ok")),
    ("admin:*", "GET", None, expect("login", "login", admin="ok")),
    # --- the desk ----------------------------------------------------------------------------
    ("desk:queues", "GET", lambda w: "/desk/", EVERY_STAFF),
    ("desk:queue", "GET", lambda w: "/desk/queues/clinical-ops-prescreening", TRIAL_READERS),
    (
        "desk:queue_claim",
        "POST",
        lambda w: f"/desk/queues/clinical-ops-prescreening/referrals/{w['trial'].public_id}/claim",
        expect("login", "404", coordinator="away"),
    ),  # fmt: skip
    (
        "desk:referral_detail",
        "GET",
        lambda w: f"/desk/referrals/{w['trial'].public_id}",
        TRIAL_READERS,
    ),  # fmt: skip
    (
        "desk:referral_timeline",
        "GET",
        lambda w: f"/desk/referrals/{w['trial'].public_id}/timeline",
        TRIAL_READERS,
    ),
    (
        "desk:referral_action",
        "POST",
        lambda w: f"/desk/referrals/{w['trial'].public_id}/actions/claim",
        expect("login", "404", coordinator="away"),
    ),  # fmt: skip
    # The same route, one more action: choosing who works it is the supervisor's alone (the
    # coordinator works it but is refused). The owner reaches the form check: no member named.
    (
        "desk:referral_action",
        "POST",
        lambda w: f"/desk/referrals/{w['trial'].public_id}/actions/assign_to",
        expect("login", "404", owner="422"),
    ),  # fmt: skip
    # An open manual check of the trial referral: done by the roles that work it (its team's
    # coordinator); those who only read it (owner, auditor) and everyone else: not found.
    (
        "desk:referral_check_done",
        "POST",
        lambda w: f"/desk/referrals/{w['trial'].public_id}/checks/{w['check'].public_id}/done",
        expect("login", "404", coordinator="away"),
    ),
    ("desk:search", "POST", lambda w: "/desk/search", EVERY_STAFF),
    # --- work tools ----------------------------------------------------------------------------
    ("desk:my_work", "GET", lambda w: "/desk/work", EVERY_STAFF),
    # Next referral always answers with a redirect: the referral taken, or a message why not.
    ("desk:next_referral", "POST", lambda w: "/desk/work/next", expect("login", "away")),
    (
        "desk:queue_next",
        "POST",
        lambda w: "/desk/queues/clinical-ops-prescreening/next",
        expect("login", "404", coordinator="away", owner="away", auditor="away"),
    ),
    # An empty bulk post goes back to the queue with a message; for others the queue is missing.
    (
        "desk:queue_bulk",
        "POST",
        lambda w: "/desk/queues/clinical-ops-prescreening/bulk",
        expect("login", "404", coordinator="away", owner="away", auditor="away"),
    ),
    # Saved filters: a post naming no page, or a filter that is not yours: not found.
    ("desk:saved_filter_create", "POST", lambda w: "/desk/saved-filters", expect("login", "404")),
    (
        "desk:saved_filter_delete",
        "POST",
        lambda w: f"/desk/saved-filters/{UNKNOWN}/delete",
        expect("login", "404"),
    ),
    # The user's own inbox and preferences: nobody else's can be named in the URL.
    ("desk:notifications", "GET", lambda w: "/desk/notifications", EVERY_STAFF),
    ("desk:notifications_badge", "GET", lambda w: "/desk/notifications/badge", EVERY_STAFF),
    (
        "desk:notifications_read",
        "POST",
        lambda w: "/desk/notifications/read",
        expect("login", "away"),
    ),
    ("desk:preferences", "GET", lambda w: "/desk/preferences", EVERY_STAFF),
    # --- drug safety: the officer works the notices of the drug-safety queue -----------------
    # The possible adverse event (patient-services queue, noticed to drug-safety): its team's
    # agent works it, the owner and auditor read it, the safety officer reads it (never acts).
    (
        "desk:referral_detail",
        "GET",
        lambda w: f"/desk/referrals/{w['adverse'].public_id}",
        expect("login", "404", agent="ok", owner="ok", auditor="ok", safety="ok"),
    ),
    (
        "desk:referral_action",
        "POST",
        lambda w: f"/desk/referrals/{w['adverse'].public_id}/actions/claim",
        expect("login", "404", agent="away"),
    ),
    (
        "desk:safety_notices",
        "GET",
        lambda w: "/desk/safety/notices",
        expect("login", "404", safety="ok"),
    ),
    (
        "desk:safety_notice",
        "GET",
        lambda w: f"/desk/safety/notices/{w['notice'].public_id}",
        expect("login", "404", safety="ok"),
    ),
    (
        "desk:safety_notice_acknowledge",
        "POST",
        lambda w: f"/desk/safety/notices/{w['notice'].public_id}/acknowledge",
        expect("login", "404", safety="away"),
    ),
    # The officer reaches the form check: no decision chosen.
    (
        "desk:safety_notice_triage",
        "POST",
        lambda w: f"/desk/safety/notices/{w['notice'].public_id}/triage",
        expect("login", "404", safety="422"),
    ),
    # --- templates and materials: wording, not patient data ----------------------------------
    # The sign-off roles, auditor and administrator read every program's; other staff their
    # owner team's (the agent: patient-support; the specialist: provider-education); the rep's
    # and the officer's teams own no program.
    (
        "desk:content",
        "GET",
        lambda w: "/desk/content/",
        expect("login", "ok", rep="404", safety="404"),
    ),
    # A draft of trial-prescreening (owned by clinical-ops).
    (
        "desk:content_detail",
        "GET",
        lambda w: f"/desk/content/{w['content'].public_id}/",
        expect(
            "login", "404", coordinator="ok", reviewer="ok", owner="ok", auditor="ok", admin="ok"
        ),
    ),
    # Readers who do not sign content off are refused in the page (400); approvers approve it.
    (
        "desk:content_approve",
        "POST",
        lambda w: f"/desk/content/{w['content'].public_id}/approve",
        expect(
            "login",
            "404",
            coordinator="400",
            reviewer="away",
            owner="away",
            auditor="400",
            admin="400",
        ),
    ),
    # Refused in the page: not theirs to retire, or (approvers) no reason given.
    (
        "desk:content_retire",
        "POST",
        lambda w: f"/desk/content/{w['content'].public_id}/retire",
        expect(
            "login",
            "404",
            coordinator="400",
            reviewer="400",
            owner="400",
            auditor="400",
            admin="400",
        ),
    ),
    # The development outbox (on in tests): those who follow leads up, supervise or configure.
    (
        "desk:outbox",
        "GET",
        lambda w: "/desk/outbox/",
        expect("login", "ok", auditor="404", safety="404"),
    ),
    # --- schedule: agenda, availability, calendar feed -----------------------------------------
    ("desk:agenda", "GET", lambda w: "/desk/agenda/", SCHEDULE),
    # A team's agenda: its members (the agent, the owner in it); for others it does not exist.
    (
        "desk:agenda",
        "GET",
        lambda w: "/desk/agenda/?team=patient-services",
        expect("login", "404", agent="ok", owner="ok"),
    ),
    # A colleague's agenda: who supervises a team they share (the owner is in the agent's team).
    (
        "desk:agenda",
        "GET",
        lambda w: f"/desk/agenda/?member={w['people']['agent'].public_id}",
        expect("login", "404", agent="ok", owner="ok"),
    ),
    ("desk:availability", "GET", lambda w: "/desk/availability/", SCHEDULE),
    # A team's default hours and holidays: who supervises it (the owner; the agent is no lead).
    (
        "desk:availability",
        "GET",
        lambda w: "/desk/availability/?team=patient-services",
        expect("login", "404", owner="ok"),
    ),
    # An empty post: no time zone chosen, no time off given.
    (
        "desk:availability_hours",
        "POST",
        lambda w: "/desk/availability/hours",
        expect("login", "422", auditor="404", admin="404", safety="404"),
    ),
    (
        "desk:time_off_add",
        "POST",
        lambda w: "/desk/availability/time-off",
        expect("login", "422", auditor="404", admin="404", safety="404"),
    ),
    (
        "desk:time_off_remove",
        "POST",
        lambda w: f"/desk/availability/time-off/{UNKNOWN}/remove",
        expect("login", "404"),
    ),
    ("desk:calendar", "GET", lambda w: "/desk/calendar/", SCHEDULE),
    # Creating shows the new URL in the response (rolled back here); revoking redirects back.
    ("desk:calendar_feed_create", "POST", lambda w: "/desk/calendar/create", SCHEDULE),
    (
        "desk:calendar_feed_revoke",
        "POST",
        lambda w: "/desk/calendar/revoke",
        expect("login", "away", auditor="404", admin="404", safety="404"),
    ),
    # --- reports: aggregates for who reviews programs; the pack for owner, auditor, admin ----
    (
        "desk:reports",
        "GET",
        lambda w: "/desk/reports/",
        expect("login", "404", rep="ok", owner="ok", auditor="ok", admin="ok"),
    ),
    # An empty form: refused as such by those who may export, not found for everyone else.
    (
        "desk:reports_pack",
        "POST",
        lambda w: "/desk/reports/pack",
        expect("login", "404", owner="400", auditor="400", admin="400"),
    ),
    # --- the audit trail: the compliance auditor and the administrator, nobody else -----------
    ("desk:audit_search", "GET", lambda w: "/desk/audit/", AUDIT),
    (
        "desk:audit_referral",
        "GET",
        lambda w: f"/desk/audit/referrals/{w['trial'].reference}/",
        AUDIT,
    ),
    # An empty post exports the whole trail (a zip), rolled back here with the request.
    ("desk:audit_export", "POST", lambda w: "/desk/audit/export", AUDIT),
    ("desk:audit_verify", "GET", lambda w: "/desk/audit/verify", AUDIT),
    # A run is already queued (the world's): a start goes back to the page showing it.
    (
        "desk:audit_verify_start",
        "POST",
        lambda w: "/desk/audit/verify/start",
        expect("login", "404", auditor="away", admin="away"),
    ),
    (
        "desk:audit_verification",
        "GET",
        lambda w: f"/desk/audit/verify/{w['verification'].public_id}",
        AUDIT,
    ),
]


def all_patterns() -> list[tuple[str, str]]:
    """(namespaced name, route) of every URL pattern, walking includes recursively."""

    def walk(patterns, prefix: str, namespace: str):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                # An unnamed pattern is known by its namespace (the admin has a few).
                name = namespace + (pattern.name or f"<unnamed {prefix}{pattern.pattern}>")
                yield name, prefix + str(pattern.pattern)

    return list(walk(get_resolver().url_patterns, "", ""))


def covering_row(name: str):
    for row in MATRIX:
        if row[0] == name:
            return row
    for row in MATRIX:
        if "*" in row[0] and fnmatch.fnmatchcase(name, row[0]):
            return row
    return None


def test_every_url_pattern_has_a_row_in_the_matrix():
    uncovered = sorted(f"{name} ({route})" for name, route in all_patterns()
                       if covering_row(name) is None)  # fmt: skip
    assert not uncovered, "URL patterns without a row in MATRIX:\n" + "\n".join(uncovered)


@pytest.fixture
def world():
    from refdesk.outreach.models import ContentVersion
    from refdesk.referrers.models import Referrer

    people = make_personas()
    referral = submit("trial-prescreening", trial(1))
    adverse = adverse_event_referral(2)
    code = Referrer.objects.filter(source__slug="study-coordinator").first()
    check = manual_check_open(
        referral=referral,
        reason=ManualCheck.Reason.NO_SHOW,
        subject="missed appointment",
        actor="system:test",
        now=timezone.now(),
    )
    # A verification run asked for (queued: the task is enqueued only when a transaction
    # commits, and each test's is rolled back).
    verification = audit_verification_start(actor="system:test").run
    return {
        "check": check,
        "verification": verification,
        "people": people,
        "trial": referral,
        "adverse": adverse,
        "notice": adverse.notices.get(),
        "content": ContentVersion.objects.get(
            program__slug="trial-prescreening", key="trial-referral-received", state="draft"
        ),
        "code": getattr(code, "code", "x"),
    }


def outcome(response) -> str:
    status = response.status_code
    if 200 <= status < 300:
        return "ok"
    if status in (301, 302, 303):
        location = response["Location"]
        return "login" if "/login/" in location else "away"
    return str(status)


def request_as(client, user, method: str, path: str) -> str:
    cache.clear()  # rate-limit counters: each request is judged on its own
    client.logout()
    if user is not None:
        client.force_login(user)
    with transaction.atomic():
        response = getattr(client, method.lower())(path)
        transaction.set_rollback(True)
    return outcome(response)


def admin_paths(world) -> list[str]:
    """Every admin page that needs no argument, and one object page per kind of argument."""
    paths = []
    for name, route in all_patterns():
        if name.startswith("admin:") and "<" not in route and "(?P" not in route:
            paths.append("/" + route)
    user = world["people"]["admin"]
    paths.append(f"/admin/accounts/user/{user.pk}/change/")
    paths.append(f"/admin/intake/referral/{world['trial'].pk}/change/")
    return paths


def test_the_admin_is_for_the_administrator_only(client, world):
    wrong = {}
    for path in admin_paths(world):
        match = resolve(path)
        row = covering_row(match.view_name if match.url_name else "admin:<unnamed>")
        if row[2] is not None:
            continue  # tested with its own row
        expected = row[3]
        actual = {
            role: request_as(client, world["people"].get(role), "GET", path) for role in ROLES
        }
        if actual != expected:
            wrong[path] = actual
    assert not wrong, "\n".join(f"{p}: {a}" for p, a in wrong.items())


@pytest.mark.parametrize("row", [r for r in MATRIX if r[2] is not None], ids=lambda r: r[0])
def test_each_route_allows_exactly_the_roles_in_its_row(client, world, row):
    _, method, build, expected = row
    path = build(world)
    actual = {role: request_as(client, world["people"].get(role), method, path) for role in ROLES}
    assert actual == expected, path
