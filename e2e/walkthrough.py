"""Issue 5's "Done when" in a real browser: every demo role logs in (password + TOTP), sees only
what the access policy allows, and referrals are worked from queue to outcome by clicking;
issue 10's: axe-core finds no serious or critical violation on any page, at desktop and phone
widths, and no page scrolls sideways on a phone.

    .venv/bin/python e2e/walkthrough.py [--screenshots DIR] [--timeout 240] [--referrals 100]
                                        [--report FILE] [--no-screenshots] [--keep]
                                        [--gallery DIR] [--no-axe] [--axe FILE]

Needs Playwright for Python and axe-core (``make install-e2e``: the ``e2e`` extra, and
``npm ci`` in ``e2e/``), and a system Chromium (``/usr/bin/chromium``; ``--chromium`` to
change). No browser is downloaded. ``make e2e`` runs it as CI does.

1. A temp dir with its own SQLite database and development secrets (``bench.common``), then
   ``refdesk migrate``, ``collectstatic`` and ``refdesk demo``; the printed demo logins
   (username, password, TOTP secret per role) and intake links are parsed from its output.
2. The policy facts the pages are checked against (``refdesk.access.policy``'s role sets and
   action table, each user's teams, each queue's team) are read in that environment; the
   expected queues and data visibility are derived from them here, not from the desk's code.
   Then ``refdesk serve`` on 127.0.0.1 and a free port (its own process group).
3. Every demo user logs in (password, then a TOTP code computed from the printed secret) in
   its own browser context, kept for the whole run (a code cannot be used twice); the
   patient-services agent with JavaScript disabled, so its work is all plain form posts. Each
   lands on /desk/; the queues listed must be the ones the policy gives the role.
4. As referrers (no login), six referrals go in through the programs' public intake pages, each
   with a unique synthetic lead: two trial prescreens (one failing two eligibility markers),
   two clinical questions, a product discussion, a help-line callback. The auditor finds each
   by reference with the search box and reads its queue and assignee. A referral assigned to
   someone who may not claim it is a finding; the program owner then hands it to the right
   worker with the page's "assign to" form.
5. What each role sees: every visible queue's first page (lead names shown, masked or absent
   as the policy says; no patient lead at all for the commercial rep) and every submitted
   referral's page ("not found" or shown, lead masked or not, only allowed actions offered).
6. The work, by clicking: coordinator (claim on the queue page, the filter form, search by the
   lead's email, contact attempt, prescreen outcome, qualify; the ineligible one: claim,
   prescreen "not eligible", disqualify), reviewer (approve one review, reject the other), the
   assignee of the approved question (claim, contact attempt, a disqualify without reason code
   that must show its error, disqualify), commercial rep (claim, contact attempt, close as
   declined), agent without JavaScript (claim on the queue page, contact attempt, a close
   without outcome that must show its error, qualify). Each flow's timeline must show every
   step. The auditor then reads every page again: no free-text note, no action; roles without
   patient data find nothing by a patient's email.
7. Every page seen by a role that may not see patient identity is searched for the names,
   emails and phone numbers of the submitted patient leads, and for the failed eligibility
   markers. Any HTTP 5xx, 403, unexpected 404, browser console error or mismatch is a failure.
8. The phone (390x844, mobile, touch): the front door ``/`` (a 404 there is let through with
   a TODO until it exists), every intake form, one sent empty (its error page), the sign-in
   and second-factor pages, and, as the agent with JavaScript, the queue list, a queue and a
   referral; none may be wider than the screen.

Every page a session snapshots is checked once per address pattern (ids removed), state (an
error summary; "not found", once for all roles), role and width: axe-core (WCAG 2.0/2.1/2.2 A
and AA, and best practices) is injected with ``page.evaluate`` (outside the page's CSP, which
refuses ``add_script_tag``) and a serious or critical violation is a failure (code ``axe``); the
no-JavaScript agent's pages are copied, as served, into a JavaScript page with their scripts
refused, since axe needs JavaScript. Screenshots go to ``--screenshots`` (default: the temp dir)
and named first-screen ones to ``--gallery``; a summary table and the axe table are printed;
``--report`` writes the failures (each with a code), the TODO notices and the axe results as
JSON; the exit status is 1 on any failure (2: Playwright, Chromium or axe-core missing).

The whole run is bounded by ``--timeout`` (SIGALRM); the server is stopped in every case.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_environment  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
# axe-core, from the npm registry at the version e2e/package-lock.json pins (make install-e2e).
AXE = ROOT / "e2e" / "node_modules" / "axe-core" / "axe.min.js"
ACTION_TIMEOUT_MS = 15_000
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}  # with is_mobile and has_touch
# The phone visitor's address (TEST-NET-2), sent as X-Forwarded-For with one trusted proxy: a
# second visitor, so its intake pages do not share the desktop referrer's rate-limit budget.
PHONE_ADDRESS = "198.51.100.39"
# The rules axe runs: WCAG 2.0/2.1/2.2 A and AA, and axe's best practices. An impact listed in
# FAILING_IMPACTS is a failure; the others are counted in the table only.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice")
IMPACTS = ("critical", "serious", "moderate", "minor")
FAILING_IMPACTS = ("critical", "serious")
# page.evaluate runs through the DevTools protocol, which the page's Content-Security-Policy does
# not govern (add_script_tag inserts an inline <script>, which the CSP refuses): the contexts keep
# the CSP and its console-error check.
AXE_INJECT = "() => {{ if (!window.axe) {{\n{source}\n}} return window.axe.version; }}"
AXE_RUN = """async tags => {
    const result = await axe.run(document, {
        runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(node => node.target.map(String).join(' '))}));
}"""
# The layout viewport's width, not innerWidth: a mobile browser zooms out to show a page wider
# than the screen, and innerWidth grows with it (858 for a 850 px table on a 390 px screen).
OVERFLOW = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"

# Read in the run's environment: the declared policy and the demo's teams, nothing from desk.
# The demo scheduling story's lead (refdesk/demo/scheduling.py): the walkthrough reads their mail.
STORY_LEAD_EMAIL = "robin.ashford@example.org"

FACTS_CODE = r"""
import json
from refdesk.access import policy
from refdesk.accounts import roles as role_sets
from refdesk.accounts.models import User
from refdesk.intake.models import Referral
from refdesk.routing.models import Queue

try:  # the pages' words for codes, where the desk shows words (issue 10)
    from refdesk.intake.choices import OUTCOME_REASON_LABELS
    from refdesk.intake.labels import CHANNEL_LABELS
except ImportError:
    OUTCOME_REASON_LABELS, CHANNEL_LABELS = {}, {}

def roles(values):
    return sorted(str(value) for value in values)

kinds = {}
for name, kind in Referral.objects.values_list("program__name", "lead_kind").distinct():
    kinds.setdefault(name, set()).add(kind)
print("FACTS " + json.dumps({
    "mask": policy.MASK,
    "all_queue_roles": roles(policy.ALL_QUEUE_ROLES),
    "team_queue_roles": roles(policy.TEAM_QUEUE_ROLES),
    "lead_workers": roles(role_sets.LEAD_WORKERS),
    "patient_data_roles": roles(role_sets.PATIENT_DATA_ROLES),
    "patient_leads_hidden_from": roles(role_sets.PATIENT_LEADS_HIDDEN_FROM),
    "action_roles": {action: roles(r) for action, r in policy.ACTION_ROLES.items()},
    "queues": {q.slug: q.team.slug for q in Queue.objects.select_related("team")},
    "queue_names": {q.slug: q.name for q in Queue.objects.all()},
    "reason_labels": {str(k): str(v) for k, v in OUTCOME_REASON_LABELS.items()},
    "channel_labels": {str(k): str(v) for k, v in CHANNEL_LABELS.items()},
    "users": {
        u.username: {
            "role": u.role,
            "name": u.get_full_name() or u.username,
            "teams": sorted(u.memberships.values_list("team__slug", flat=True)),
        }
        for u in User.objects.all()
    },
    "program_lead_kinds": {name: sorted(k) for name, k in kinds.items()},
}))
"""


class Timeout(Exception):
    pass


# --- small helpers -----------------------------------------------------------------------------


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), what allauth's TOTP checks."""
    counter = int((time.time() if at is None else at) // 30)
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def fresh_totp(secret: str) -> str:
    """A code with at least 4 s of its window left (allauth accepts the current window only)."""
    if 30 - time.time() % 30 < 4:
        time.sleep(30 - time.time() % 30 + 0.2)
    return totp(secret)


def path_of(url: str) -> str:
    """``/r/K7Q3M9X`` of ``http://127.0.0.1:8000/r/K7Q3M9X``."""
    return "/" + url.split("://", 1)[1].partition("/")[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def letters(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(n))


@dataclass
class DemoLogin:
    username: str
    password: str
    totp_secret: str
    role_label: str


LOGIN_LINE = re.compile(r"^  (\S+)\s+(\S+)\s+([A-Z2-7]{16,})\s+(\S.*?)\s*$")
LINK_LINE = re.compile(r"^  ([a-z0-9-]+)\s+(https?://\S+)\s*$")


def parse_demo_output(text: str) -> tuple[list[DemoLogin], dict[str, str]]:
    logins, links, section = [], {}, None
    for line in text.splitlines():
        if line.startswith("Demo staff logins"):
            section = "logins"
        elif line.startswith("Intake links"):
            section = "links"
        elif section == "logins" and (match := LOGIN_LINE.match(line)):
            logins.append(DemoLogin(*match.groups()))
        elif section == "links" and (match := LINK_LINE.match(line)):
            links[match.group(1)] = match.group(2)
    return logins, links


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Lead:
    """A synthetic lead submitted through an intake page; its identity must stay where allowed."""

    program: str
    kind: str  # patient | clinician
    given: str
    family: str
    email: str
    phone: str
    request_type: str
    key: str = ""
    reference: str = ""
    url: str = ""  # the desk page of the referral (/desk/referrals/<uuid>)
    # Trial eligibility markers it fails: their names are health facts (answers), too.
    failed_markers: tuple[str, ...] = ()
    # Five random digits of its NPI (see npi).
    npi_digits: str = field(default_factory=lambda: f"{secrets.randbelow(100_000):05d}")

    @property
    def npi(self) -> str:
        """A check-digit-valid NPI of its own (NPIs are a duplicate key of provider-education:
        two clinicians sharing one would be the same lead): 1, the lead's area code (one per
        lead key), five random digits and the check digit. (It once took the phone number's
        last eight digits, which leave out the area code: the two clinical questions' NPIs were
        the same whenever their random 555-01xx lines were, and the second was a duplicate.)"""
        area = "".join(ch for ch in self.phone if ch.isdigit())[1:4]
        base = f"1{area}{self.npi_digits}"
        return next(f"{base}{d}" for d in range(10) if _npi_valid(f"{base}{d}"))

    @property
    def identity(self) -> list[str]:
        """Strings that identify the lead: none may reach a page of a role without the right."""
        digits = self.phone.replace(" ", "")
        area, exchange, line = digits[2:5], digits[5:8], digits[8:]
        return [self.family, self.email, digits, f"{area}-{exchange}-{line}", f"{exchange}-{line}"]


# key: (program, lead kind, given name, family name stem, area code, request type); the area
# codes are not the demo's, so the 555-01xx numbers never match a demo lead (no duplicate).
LEADS = {
    "trial": ("trial-prescreening", "patient", "Ottilie", "Brackwater", "503", "trial_prescreen"),
    "ineligible": ("trial-prescreening", "patient", "Leontyne", "Carrow", "808",
                   "trial_prescreen"),
    "question": ("provider-education", "clinician", "Anselm", "Quillon", "602",
                 "clinical_question"),
    "product": ("provider-education", "clinician", "Bettina", "Marlowe", "404",
                "product_discussion"),
    "support": ("patient-support", "patient", "Cosimo", "Farthing", "305", "helpline_callback"),
    "rejected": ("provider-education", "clinician", "Dorian", "Vexley", "702",
                 "clinical_question"),
}  # fmt: skip
# Who is meant to work each referral (the assignee, when fair assignment chose a worker).
WORKER = {
    "trial": "coordinator",
    "ineligible": "coordinator",
    "question": "specialist",
    "product": "rep",
    "support": "agent",
}
# Six referrals = 18 intake requests (form, post, thank-you page): the public pages allow 20 a
# minute from one address, and the walkthrough is one address.
# This user works without JavaScript: every action a plain form post, no htmx.
NO_JS_USER = "agent"
# ECOG 3 and active brain metastases: the prescreen is not eligible on these two markers.
FAILED_MARKERS = {"ineligible": ("ecog", "active_brain_metastases")}


def _npi_valid(npi: str) -> bool:
    """The US NPI check digit: Luhn over the 9 digits with the 80840 prefix."""
    total = 24  # the constant contribution of 80840
    for position, char in enumerate(reversed(npi[:9])):
        digit = int(char) * (2 if position % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10 == int(npi[9])


def new_lead(key: str) -> Lead:
    """A lead nobody referred before (unique family name, email and phone: no duplicate)."""
    program, kind, given, family, area, request_type = LEADS[key]
    token = letters(6)
    phone = f"+1 {area} 555 01{secrets.randbelow(100):02d}"
    family = f"{family}{token}"
    return Lead(program, kind, given, family, f"{given}.{family}@example.org".lower(), phone,
                request_type, key=key, failed_markers=FAILED_MARKERS.get(key, ()))  # fmt: skip


@dataclass
class RoleResult:
    username: str
    role: str
    login_ok: bool = False
    queues_seen: list[str] = field(default_factory=list)
    queues_expected: list[str] = field(default_factory=list)
    patient_data: str = "-"
    actions: list[str] = field(default_factory=list)


class Run:
    def __init__(self, args):
        self.args = args
        self.failures: list[str] = []
        self.codes: list[str] = []
        self.started = time.monotonic()
        self.console_errors: set[str] = set()
        self.shot_dir = Path(args.screenshots)
        self.shot_dir.mkdir(parents=True, exist_ok=True)
        self.shots = 0
        self.gallery_dir = Path(args.gallery) if args.gallery else None
        if self.gallery_dir:
            self.gallery_dir.mkdir(parents=True, exist_ok=True)
        self.gallery: list[str] = []
        self.notices: list[str] = []  # tolerated, but said: a TODO for someone else's work
        self.pages: PageChecks | None = None

    def check(self, ok: bool, message: str, *, code: str = "mismatch") -> bool:
        """Record a failure unless ``ok``; ``code`` names a kind of finding (``--report``)."""
        if not ok:
            self.failures.append(message)
            self.codes.append(code)
            print(f"  FAIL {message}", flush=True)
        return ok

    def log(self, message: str) -> None:
        print(message, flush=True)

    def notice(self, message: str) -> None:
        if message in self.notices:
            return
        self.notices.append(message)
        print(f"  TODO {message}", flush=True)

    def step(self, message: str) -> None:
        print(f"{message} [{time.monotonic() - self.started:.0f} s]", flush=True)


class Session:
    """One user's browser context (its own cookies), with everything it saw recorded. Desktop
    1280x800, or a phone (390x844, mobile, touch) with ``phone``."""

    def __init__(
        self,
        run: Run,
        browser,
        base: str,
        name: str,
        *,
        javascript: bool = True,
        phone: bool = False,
        role: str = "visitor",
        headers: dict | None = None,
        storage_state: dict | None = None,
    ):
        self.run, self.name, self.javascript, self.phone = run, name, javascript, phone
        self.browser, self.base = browser, base
        self.width = (PHONE if phone else DESKTOP)["width"]
        # Whose page it is, in the accessibility table: "visitor" until signed in as ``role``.
        self.role, self.audit_role = role, "visitor"
        self.status = 0  # of the last page the main frame loaded
        self.twin = None  # a JavaScript page for axe when this one has none (PageChecks)
        self.twin_document: dict = {}
        options = {"base_url": base, "java_script_enabled": javascript}
        options["viewport"] = PHONE if phone else DESKTOP
        if phone:
            options.update(is_mobile=True, has_touch=True)
        if headers:
            options["extra_http_headers"] = headers
        if storage_state:
            options["storage_state"] = storage_state
        self.context = browser.new_context(**options)
        self.context.set_default_timeout(ACTION_TIMEOUT_MS)
        self.page = self.context.new_page()
        self.pages_html: list[str] = []
        self.expected_404: set[str] = set()
        self.page.on("response", self._on_response)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: run.check(False, f"{name}: page error {error}"))

    def _on_response(self, response) -> None:
        path = response.url.split("://", 1)[-1].split("/", 1)[-1]
        path = "/" + path
        if response.request.is_navigation_request() and response.frame == self.page.main_frame:
            self.status = response.status
        if response.status >= 500 or response.status in (403, 429):
            self.run.check(False, f"{self.name}: HTTP {response.status} on {path}")
        elif response.status == 404 and path not in self.expected_404:
            self.run.check(path.startswith("/favicon"), f"{self.name}: unexpected 404 on {path}")

    def _on_console(self, message) -> None:
        # A failed load is already judged by its response (expected 404s are not errors);
        # the same message on many pages is reported once.
        text = message.text
        if message.type != "error" or text.startswith("Failed to load resource"):
            return
        if text not in self.run.console_errors:
            self.run.console_errors.add(text)
            self.run.check(False, f"{self.name}: browser console error: {text[:300]}")

    def snapshot(self) -> str:
        """The page as it is now, kept for the leak scan; a page (pattern) this role has not
        had checked at this width yet gets axe and, on a phone, the overflow check."""
        html = self.page.content()
        self.pages_html.append(html)
        if self.run.pages is not None:
            self.run.pages.check(self, html)
        return html

    def shot(self, label: str) -> None:
        if self.run.args.no_screenshots:
            return
        self.run.shots += 1
        path = self.run.shot_dir / f"{self.run.shots:02d}-{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def gallery(self, name: str) -> None:
        """A named first-screen screenshot for the README (``--gallery``); the first one taken
        under a name is kept."""
        run = self.run
        if run.gallery_dir is None or name in run.gallery:
            return
        run.gallery.append(name)
        self.page.screenshot(path=str(run.gallery_dir / f"{name}.png"))

    def goto(self, path: str, *, expect_status: int = 200) -> str:
        if expect_status == 404:
            self.expected_404.add(path)
        response = self.page.goto(path)
        status = response.status if response else 0
        self.run.check(status == expect_status, f"{self.name}: GET {path} gave {status}")
        return self.snapshot()

    def close(self) -> None:
        self.context.close()
        if self.twin is not None:
            self.twin.context.close()


def page_pattern(path: str, programs: dict[str, str]) -> str:
    """The page's address without ids: ``/desk/referrals/{id}``, ``/desk/queues/{queue}``,
    ``/r/{code} (trial-prescreening)`` (intake forms differ by program)."""
    if "://" in path:  # a full address
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    path = path.split("?", 1)[0].split("#", 1)[0]
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "desk" and parts[2] == "queues":
        parts[3] = "{queue}"
    if len(parts) > 2 and parts[1] in ("m", "book", "unsubscribe"):  # a lead's signed links
        parts[2] = "{token}"
    if len(parts) > 2 and parts[1] == "r":
        if parts[2] == "status":
            parts[3:] = ["{token}"]
        else:
            program = programs.get(parts[2])
            parts[2] = "{code}"
            if len(parts) > 4:
                parts[4] = "{token}"
            elif program:
                return "/".join(parts) + f" ({program})"
    out = []
    for part in parts:
        if re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", part):
            part = "{id}"
        elif re.fullmatch(r"RF-[0-9A-Z]{4}-[0-9A-Z]{4}", part):
            part = "{ref}"
        elif part.isdigit():
            part = "{n}"
        out.append(part)
    return "/".join(out) or "/"


@dataclass
class PageAudit:
    page: str
    role: str
    width: int
    violations: list[dict]
    seconds: float

    def count(self, impact: str) -> int:
        return sum(1 for v in self.violations if v["impact"] == impact)


class PageChecks:
    """axe-core on each distinct page (address pattern and state) each role sees at each width,
    and on a phone, no horizontal overflow. Axe needs JavaScript: a page of a session without
    it is copied, as served, into a JavaScript page (its scripts refused) and audited there."""

    def __init__(self, run: Run, axe_source: str | None, programs: dict[str, str]):
        self.run, self.source, self.programs = run, axe_source, programs
        self.inject = AXE_INJECT.format(source=axe_source) if axe_source else ""
        self.seen: set[tuple] = set()
        self.audits: list[PageAudit] = []
        self.overflows: list[dict] = []
        self.version = ""
        self.seconds = 0.0

    def state(self, session: Session, html: str) -> str:
        """Which state of the page: ``not found``, ``error`` (an error summary) or plain."""
        if session.status == 404:
            return "not found"
        if 'class="error-summary' in html or 'class="error-message' in html:
            return "error"
        return ""

    def check(self, session: Session, html: str) -> None:
        page = page_pattern(session.page.url, self.programs)
        state = self.state(session, html)
        if state:
            page = f"{page} ({state})" if not page.endswith(")") else f"{page[:-1]}, {state})"
        # A "not found" page is the same for every role: checked once per width.
        key = ("*" if state == "not found" else session.audit_role, session.width, page)
        if key in self.seen:
            return
        self.seen.add(key)
        if session.phone:
            scroll, width = session.page.evaluate(OVERFLOW)
            self.overflows.append({"page": page, "role": session.audit_role, "width": scroll})
            self.run.check(
                scroll <= width + 1,
                f"{session.name}: {page} is {scroll} px wide on a {width} px phone screen "
                "(horizontal scrolling)",
                code="overflow",
            )
        if self.source is None:
            return
        started = time.monotonic()
        target = session.page if session.javascript else self.twin(session, html)
        self.version = target.evaluate(self.inject)
        violations = target.evaluate(AXE_RUN, list(AXE_TAGS))
        seconds = time.monotonic() - started
        self.seconds += seconds
        self.audits.append(PageAudit(page, session.audit_role, session.width, violations, seconds))

    def twin(self, session: Session, html: str):
        """A JavaScript page showing ``html`` at the session's address and size: the page's
        own scripts are refused, so the document is what the user without JavaScript has."""
        url = session.page.url
        if session.twin is None:
            options = {"base_url": session.base, "viewport": PHONE if session.phone else DESKTOP}
            if session.phone:
                options.update(is_mobile=True, has_touch=True)
            session.twin = session.browser.new_context(**options).new_page()
            document = session.twin_document = {}

            def serve(route) -> None:
                request = route.request
                if request.is_navigation_request() and request.url == document["url"]:
                    body = document["html"]
                    route.fulfill(status=200, body=body, content_type="text/html; charset=utf-8")
                elif request.resource_type == "script":
                    route.abort()
                else:
                    route.continue_()

            session.twin.route("**/*", serve)
        session.twin_document.update(url=url, html=html)
        session.twin.goto(url)
        return session.twin

    def failures(self) -> None:
        """One failure per rule, page and width with a failing impact (the roles listed)."""
        grouped: dict[tuple, dict] = {}
        for audit in self.audits:
            for violation in audit.violations:
                if violation["impact"] not in FAILING_IMPACTS:
                    continue
                key = (violation["id"], violation["impact"], audit.page, audit.width)
                entry = grouped.setdefault(key, {"roles": [], "targets": [], "help": ""})
                entry["roles"].append(audit.role)
                entry["help"] = violation["help"]
                for target in violation["targets"]:
                    if target not in entry["targets"]:
                        entry["targets"].append(target)
        for (rule, impact, page, width), entry in sorted(grouped.items()):
            targets = entry["targets"]
            example = ", ".join(f"`{t}`" for t in targets[:3])
            more = f" and {len(targets) - 3} more" if len(targets) > 3 else ""
            self.run.check(
                False,
                f"axe {rule} ({impact}) on {page} at {width} px "
                f"[{', '.join(sorted(set(entry['roles'])))}]: {entry['help']}; {example}{more}",
                code="axe",
            )

    def report(self) -> dict:
        return {
            "axe_version": self.version,
            "tags": list(AXE_TAGS),
            "failing_impacts": list(FAILING_IMPACTS),
            "seconds": round(self.seconds, 1),
            "pages": [
                {
                    "page": audit.page,
                    "role": audit.role,
                    "width": audit.width,
                    "counts": {impact: audit.count(impact) for impact in IMPACTS},
                    "violations": audit.violations,
                }
                for audit in self.audits
            ],
            "phone_widths": self.overflows,
        }

    def print_table(self) -> None:
        if self.source is None:
            print("\naxe: not run (--no-axe)")
            return
        print(
            f"\naxe-core {self.version} ({', '.join(AXE_TAGS)}): {len(self.audits)} pages "
            f"in {self.seconds:.0f} s; {' and '.join(FAILING_IMPACTS)} fail the run"
        )
        headers = ("page", "role", "width", *IMPACTS, "rules")
        rows = [
            (
                audit.page,
                audit.role,
                str(audit.width),
                *(str(audit.count(impact)) for impact in IMPACTS),
                ", ".join(sorted({v["id"] for v in audit.violations})) or "-",
            )
            for audit in sorted(self.audits, key=lambda a: (a.page, a.width, a.role))
        ]
        widths = [max(len(row[i]) for row in (headers, *rows)) for i in range(len(headers))]
        line = "  ".join(f"{{:<{width}}}" for width in widths)
        print(line.format(*headers).rstrip())
        print(line.format(*("-" * width for width in widths)))
        for row in rows:
            print(line.format(*row).rstrip())


# --- steps -------------------------------------------------------------------------------------


def login(session: Session, demo: DemoLogin) -> bool:
    page = session.page
    page.goto("/desk/")
    if not session.run.check("/accounts/login/" in page.url, f"{demo.username}: no login page"):
        return False
    session.snapshot()  # the sign-in pages are checked once per width (role "visitor")
    page.fill("input[name=login]", demo.username)
    page.fill("input[name=password]", demo.password)
    page.click("form[action$='/accounts/login/'] button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    session.snapshot()
    page.fill("input[name=code]", fresh_totp(demo.totp_secret))
    page.click("form[action$='/2fa/authenticate/'] button[type=submit]:not([form])")
    page.wait_for_load_state()
    session.audit_role = session.role
    ok = page.url.endswith("/desk/") and page.locator("h1", has_text="Queues").count() == 1
    session.snapshot()
    session.shot("queues")
    return session.run.check(ok, f"{demo.username}: did not land on /desk/ (at {page.url})")


def queues_listed(session: Session) -> list[str]:
    links = session.page.locator("table.desk-table a[href^='/desk/queues/']")
    hrefs = links.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return sorted(href.rsplit("/", 1)[-1] for href in hrefs)


def queue_rows(session: Session) -> list[dict]:
    rows = session.page.locator("#queue-rows tbody tr")
    return rows.evaluate_all(
        """rows => rows.map(r => ({
            reference: r.cells[0].innerText.trim(), lead: r.cells[1].innerText.trim(),
            program: r.cells[2].innerText.trim(), stage: r.cells[5].innerText.trim(),
            assignee: r.cells[7].innerText.trim(), claim: !!r.querySelector('form button')}))"""
    )


def offered_actions(session: Session) -> set[str]:
    classes = session.page.locator("#referral form.action").evaluate_all(
        "forms => forms.map(f => f.className)"
    )
    found = set()
    for names in classes:
        found.update(name[len("action-") :] for name in names.split() if name.startswith("action-"))
    return found


# Codes as the pages word them (Walkthrough.__init__ fills it from the facts): "Routed to
# Patient access", "Contact attempt (lead, Phone call)", a reason code's label.
WORDED: dict[str, str] = {}


def worded(text: str) -> str:
    """``text`` with the codes in it as the pages show them (longest code first)."""
    for code in sorted(WORDED, key=len, reverse=True):
        text = text.replace(code, WORDED[code])
    return text


def shows(entry: str, step: str) -> bool:
    """Whether a timeline entry says ``step``, in codes or in words, whatever the case."""
    entry = entry.lower()
    return step.lower() in entry or worded(step).lower() in entry


def detail_facts(session: Session) -> dict:
    """The referral page's facts (its header's status list and the key facts), lead values and
    timeline. Terms by their text, not as shown (the header shows them in capitals)."""
    page = session.page
    facts = page.locator("dl.ref-status, dl.referral-facts").evaluate_all(
        """dls => { const out = {};
            dls.forEach(dl => dl.querySelectorAll('dt').forEach(dt => {
                out[dt.textContent.trim()] = dt.nextElementSibling.innerText.trim(); }));
            return out; }"""
    )
    lead_values = page.locator("dl.lead-fields dd, dl.lead-answers dd").all_inner_texts()
    timeline = page.locator("#timeline li").all_inner_texts()
    return {"facts": facts, "lead_values": lead_values, "timeline": timeline}


def fill_field(form, name: str, value: str) -> None:
    """Set a form field as a user would: pick a radio button or an option, or type."""
    element = form.locator(f"[name={name}]").first
    kind = element.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
    if kind == "select:select-one":
        element.select_option(value)
    elif kind in ("input:radio", "input:checkbox"):
        form.locator(f"[name={name}][value='{value}']").check()
    else:
        element.fill(value)


def open_form(form) -> None:
    """An action form in a closed <details> menu is opened as a user does: its summary."""
    menu = form.locator("xpath=ancestor::details[1]")
    if menu.count() and menu.get_attribute("open") is None:
        menu.locator("summary").first.click()


def do_action(session: Session, name: str, fields: dict, *, expect: str, label: str) -> bool:
    """Fill and submit one action form on the referral page; the timeline must then show
    ``expect`` and no error summary may be on the page."""
    page, run = session.page, session.run
    form = page.locator(f"#referral form.action-{name}").first
    if not run.check(form.count() == 1, f"{session.name}: no '{name}' form offered"):
        return False
    open_form(form)
    for field_name, value in fields.items():
        fill_field(form, field_name, value)
    before = len(page.locator("#timeline li").all_inner_texts())
    form.locator("button[type=submit]").click()
    try:
        page.locator("#timeline li", has_text=worded(expect)).last.wait_for()
        page.wait_for_load_state()
        page.wait_for_function(
            f"document.querySelectorAll('#timeline li').length > {before}", timeout=5000
        )
    except Exception:  # noqa: BLE001 (a Playwright timeout: reported as the failure it is)
        errors = page.locator(".error-summary").all_inner_texts()
        session.snapshot()
        session.shot(f"{label}-failed")
        return run.check(False, f"{session.name}: '{name}' did not record '{expect}' {errors}")
    session.snapshot()
    session.shot(label)
    errors = page.locator(".error-summary").all_inner_texts()
    return run.check(not errors, f"{session.name}: '{name}' showed an error: {errors}")


def refuse_action(session: Session, name: str, fields: dict, *, error: str, label: str) -> bool:
    """Submit an action form with invalid input: the page must show the error summary (with
    htmx too: a 422 body must be swapped in) and the timeline must not change."""
    page, run = session.page, session.run
    form = page.locator(f"#referral form.action-{name}").first
    if not run.check(form.count() == 1, f"{session.name}: no '{name}' form offered"):
        return False
    open_form(form)
    for field_name, value in fields.items():
        fill_field(form, field_name, value)
    before = page.locator("#timeline li").all_inner_texts()
    form.locator("button[type=submit]").click()
    try:
        page.locator(".error-summary", has_text=error).wait_for(timeout=5000)
    except Exception:  # noqa: BLE001 (a Playwright timeout: reported as the failure it is)
        session.shot(f"{label}-no-error")
        return run.check(False, f"{session.name}: invalid '{name}' showed no '{error}'")
    page.wait_for_load_state()
    session.gallery(f"action-error-{'' if session.javascript else 'nojs-'}desktop")
    session.snapshot()
    session.shot(label)
    return run.check(
        page.locator("#timeline li").all_inner_texts() == before,
        f"{session.name}: the refused '{name}' changed the timeline",
    )


def open_queue_row(session: Session, queue: str, reference: str) -> dict | None:
    session.goto(f"/desk/queues/{queue}?assignee=&size=100")
    for row in queue_rows(session):
        if row["reference"] == reference:
            return row
    session.run.check(False, f"{session.name}: {reference} not listed in queue {queue}")
    return None


def claim_from_queue(session: Session, queue: str, reference: str) -> bool:
    page = session.page
    row = open_queue_row(session, queue, reference)
    if row is None or not session.run.check(
        row["claim"], f"{session.name}: no Claim button for {reference} in {queue} ({row})"
    ):
        return False
    page.locator("#queue-rows tr", has_text=reference).locator("button", has_text="Claim").click()
    page.locator("#queue-rows tr", has_text=reference).filter(has_text="In progress").wait_for()
    page.wait_for_load_state()
    session.snapshot()
    session.shot(f"claimed-{reference}")
    return True


def open_referral(session: Session, queue: str, reference: str) -> bool:
    """From the queue page, click through to the referral page."""
    if open_queue_row(session, queue, reference) is None:
        return False
    session.page.locator("#queue-rows a", has_text=reference).click()
    session.page.wait_for_url("**/desk/referrals/*")
    session.page.locator("#referral").wait_for()
    session.snapshot()
    return True


# --- the walkthrough ---------------------------------------------------------------------------


class Walkthrough:
    def __init__(self, run: Run, facts: dict, logins: list[DemoLogin], links: dict, base: str):
        self.run, self.facts, self.base = run, facts, base
        self.logins = {login.username: login for login in logins}
        self.links = links
        self.story = ""  # the demo scheduling story's reference
        self.mail_dir: Path | None = None  # where the development mail backend writes
        self.results = {
            login.username: RoleResult(login.username, facts["users"][login.username]["role"])
            for login in logins
        }
        self.sessions: dict[str, Session] = {}
        self.referrer: Session | None = None
        self.leads = {key: new_lead(key) for key in LEADS}
        self.all_leads = list(self.leads.values())  # leak checks cover replaced ones too
        self.queue_of: dict[str, str] = {}
        self.assignee_of: dict[str, str] = {}
        WORDED.clear()
        WORDED.update(facts.get("queue_names", {}))
        WORDED.update(facts.get("reason_labels", {}))
        WORDED.update(
            {
                f"lead, {code})": f"lead, {label})"
                for code, label in facts.get("channel_labels", {}).items()
            }
        )
        self.extra_sessions: list[Session] = []  # the phone pass and the gallery's

    def route(self, facts: dict) -> tuple[str, str]:
        """(queue slug, assignee's username or "nobody") from a referral page's facts, which
        name them by slug and username ("Queue", "Assigned to") or in words ("Queue",
        "Owner": the queue's and the person's names)."""
        queue = facts.get("Queue", "")
        slugs = {name: slug for slug, name in self.facts.get("queue_names", {}).items()}
        queue = slugs.get(queue, queue)
        person = facts.get("Assigned to", facts.get("Owner", ""))
        usernames = {user["name"]: name for name, user in self.facts["users"].items()}
        person = usernames.get(person, person)
        return queue, "nobody" if person in ("", "Unassigned") else person

    # -- policy, as declared --------------------------------------------------------------

    def role(self, username: str) -> str:
        return self.facts["users"][username]["role"]

    def expected_queues(self, username: str) -> list[str]:
        role, teams = self.role(username), set(self.facts["users"][username]["teams"])
        if role in self.facts["all_queue_roles"]:
            return sorted(self.facts["queues"])
        if role in self.facts["team_queue_roles"]:
            return sorted(slug for slug, team in self.facts["queues"].items() if team in teams)
        return []

    def may_view(self, username: str, queue: str, lead_kind: str) -> bool:
        role, teams = self.role(username), set(self.facts["users"][username]["teams"])
        if role in self.facts["all_queue_roles"]:
            return True
        if role not in self.facts["team_queue_roles"]:
            return False
        if lead_kind == "patient" and role in self.facts["patient_leads_hidden_from"]:
            return False
        return self.facts["queues"].get(queue) in teams

    def sees_identity(self, username: str, queue: str, lead_kind: str) -> bool:
        role = self.role(username)
        if role not in self.facts["lead_workers"] or not self.may_view(username, queue, lead_kind):
            return False
        return self.facts["queues"].get(queue) in set(self.facts["users"][username]["teams"])

    def may_act(self, username: str, action: str) -> bool:
        return self.role(username) in self.facts["action_roles"].get(action, [])

    def patient_identity_allowed(self, username: str) -> bool:
        return self.role(username) in self.facts["patient_data_roles"]

    # -- 4. intake (the referrer's side) ---------------------------------------------------

    def submit_referrals(self, browser) -> None:
        self.referrer = Session(self.run, browser, self.base, "referrer")
        self.referrer.audit_role = "referrer"
        for key, lead in self.leads.items():
            self._submit(self.referrer, key, lead)

    def _submit(self, session: Session, key: str, lead: Lead) -> None:
        page, run = session.page, self.run
        path = path_of(self.links[lead.program])
        session.goto(path)
        # Request types are radios with hints; a program with one type shows it as text.
        if page.locator("input[name=request_type]").count():
            page.check(f"input[name=request_type][value={lead.request_type}]")
        page.fill("input[name=lead_given_name]", lead.given)
        page.fill("input[name=lead_family_name]", lead.family)
        page.check("input[name=lead_preferred_contact][value=phone]")
        page.fill("input[name=lead_phone]", lead.phone)
        page.fill("input[name=lead_email]", lead.email)
        page.select_option("select[name=lead_timezone]", "America/New_York")
        if lead.program == "trial-prescreening":
            # One study: shown as text, nothing to choose.
            page.fill("input[name=answer_age]", "58")
            page.select_option("select[name=answer_diagnosis_confirmed]", "yes")
            failing = lead.failed_markers
            page.fill("input[name=answer_ecog]", "3" if "ecog" in failing else "1")
            page.fill("input[name=answer_prior_therapy_lines]", "1")
            metastases = "yes" if "active_brain_metastases" in failing else "no"
            page.select_option("select[name=answer_active_brain_metastases]", metastases)
        if lead.kind == "patient":
            page.check("input[name=consent_granted]")
            page.check("input[name=consent_channels][value=phone]")
            page.check("input[name=consent_channels][value=email]")
            page.check("input[name=consent_method][value=attested_by_referrer]")
        if lead.program == "patient-support":
            page.fill("textarea[name=answer_reason_for_contact]", "Asked for a callback.")
        if lead.program == "provider-education":
            page.fill("input[name=lead_specialty]", "oncology")
            page.select_option("select[name=therapy_area]", "oncology")
            page.fill("input[name=lead_npi]", lead.npi)
            if lead.request_type == "clinical_question":
                page.fill(
                    "textarea[name=answer_question]", "Is there data on dosing in renal impairment?"
                )
        page.click("form[method=post] button[type=submit]")
        page.wait_for_load_state()
        session.snapshot()
        session.shot(f"intake-{key}")
        reference = page.locator(".confirmation .reference")
        if not run.check(
            reference.count() == 1, f"referrer: {key} referral not accepted (at {page.url})"
        ):
            errors = page.locator(".error-summary, .error-message").all_inner_texts()
            run.log(f"  intake errors for {key}: {errors}")
            return
        lead.reference = reference.inner_text().strip()
        run.check(
            page.get_by_text("Information still needed").count() == 0,
            f"referrer: {key} referral {lead.reference} is incomplete",
        )
        run.log(f"  submitted {key}: {lead.reference} ({lead.program}, {lead.request_type})")

    # -- 3. logins; 5. what each role sees ------------------------------------------------

    def login_everyone(self, browser) -> None:
        for username, demo in self.logins.items():
            javascript = username != NO_JS_USER
            session = Session(
                self.run, browser, self.base, username, javascript=javascript,
                role=self.role(username),
            )  # fmt: skip
            self.sessions[username] = session
            result = self.results[username]
            try:
                result.login_ok = login(session, demo)
            except Exception as error:  # noqa: BLE001 (a Playwright timeout: the login failed)
                session.shot("login-failed")
                self.run.check(False, f"{username}: login failed: {str(error)[:200]}")
            if not result.login_ok:
                continue
            result.queues_seen = queues_listed(session)
            result.queues_expected = self.expected_queues(username)
            self.run.check(
                result.queues_seen == result.queues_expected,
                f"{username}: queues {result.queues_seen} != policy {result.queues_expected}",
            )
            self.run.log(
                f"  {username:<12} logged in{'' if javascript else ' (no JavaScript)'}; "
                f"queues {', '.join(result.queues_seen) or '(none)'}"
            )

    def locate(self, lead: Lead) -> None:
        """The auditor (every queue, read-only) finds a submitted referral by its reference,
        through the search box."""
        session = self.sessions["auditor"]
        page = session.page
        page.goto("/desk/")
        page.fill("#desk-search-q", lead.reference)
        page.locator("form.desk-search button[type=submit]").click()
        page.wait_for_url("**/desk/search")
        link = page.locator("table.results a", has_text=lead.reference)
        if self.run.check(link.count() == 1, f"auditor: search found no {lead.reference}"):
            lead.url = link.get_attribute("href")
        session.snapshot()

    def read_route(self, key: str) -> None:
        """Queue and assignee of a referral, as the auditor's page shows them."""
        lead, session = self.leads[key], self.sessions["auditor"]
        session.goto(lead.url)
        facts = detail_facts(session)["facts"]
        self.queue_of[key], self.assignee_of[key] = self.route(facts)
        self.run.log(
            f"  {lead.reference}: {facts.get('Stage', '')}, queue {self.queue_of[key]}, "
            f"assigned to {self.assignee_of[key]}"
        )

    def locate_all(self) -> None:
        """Find every submitted referral. One assigned to someone who may not claim it is a
        finding (nobody can work it); a supervisor then hands it over on the referral page
        (``assign_to``), or, where that is not offered, a fresh referral is submitted."""
        if not self.results.get("auditor") or not self.results["auditor"].login_ok:
            self.run.check(False, "the auditor's session is needed to find the referrals")
            return
        for key in self.leads:
            for attempt in range(3):
                lead = self.leads[key]
                if not lead.reference:
                    break
                self.locate(lead)
                if not lead.url:
                    break
                self.read_route(key)
                if self.workable(key):
                    break
                if attempt < 2:
                    self.leads[key] = new_lead(key)
                    self.all_leads.append(self.leads[key])
                    self._submit(self.referrer, key, self.leads[key])

    def workable(self, key: str) -> bool:
        """Whether someone may work the referral: unassigned (claimable), or its assignee may
        claim it; if not (a finding), whether a supervisor could hand it over."""
        assignee = self.assignee_of[key]
        if assignee in ("", "nobody") or self.may_act(assignee, "claim"):
            return True
        self.run.check(
            False,
            f"{self.leads[key].reference} ({key}) was assigned to {assignee} "
            f"({self.role(assignee)}), who may not claim it: nobody can work it",
            code="assigned-to-non-worker",
        )
        return self.hand_over(key, to=WORKER[key])

    def hand_over(self, key: str, *, to: str) -> bool:
        """A supervisor gives the referral to ``to`` with the referral page's assign form."""
        lead = self.leads[key]
        supervisors = [
            name
            for name in self.sessions
            if self.results[name].login_ok
            and self.may_act(name, "assign_to")
            and self.may_view(name, self.queue_of[key], lead.kind)
            and self.facts["queues"][self.queue_of[key]] in self.facts["users"][name]["teams"]
        ]
        if not supervisors:
            return False
        session = self.sessions[supervisors[0]]
        session.goto(lead.url)
        form = session.page.locator("#referral form.action-assign_to")
        if form.count() == 0:
            return False
        option = form.locator("select[name=assignee] option", has_text=f"({to})")
        if not self.run.check(
            option.count() == 1, f"{session.name}: {to} is not offered as assignee"
        ):
            return False
        done = do_action(
            session,
            "assign_to",
            {"assignee": option.get_attribute("value"), "reason": "walkthrough handover"},
            expect=f"Assigned to {to}",
            label=f"{key}-handed-over",
        )
        if done:
            self.results[session.name].actions.append(f"assign to {to}")
            self.read_route(key)
        return done and self.assignee_of[key] == to

    def check_queue_pages(self) -> None:
        mask = self.facts["mask"]
        kinds = self.facts["program_lead_kinds"]
        # Full name -> username, to read the Assignee column.
        names = {user["name"]: name for name, user in self.facts["users"].items()}
        stuck: dict[str, set[str]] = {}  # username -> open referrals they hold but may not work
        for username, session in self.sessions.items():
            result = self.results[username]
            if not result.login_ok:
                continue
            shown = masked = patient_rows = 0
            for queue in result.queues_seen:
                session.goto(f"/desk/queues/{queue}")
                expect_identity = self.role(username) in self.facts["lead_workers"] and (
                    self.facts["queues"][queue] in self.facts["users"][username]["teams"]
                )
                for row in queue_rows(session):
                    holder = names.get(row["assignee"])
                    if holder and not self.may_act(holder, "claim"):
                        stuck.setdefault(holder, set()).add(row["reference"])
                    is_patient = "patient" in kinds.get(row["program"], [])
                    patient_rows += is_patient
                    if row["lead"] == mask:
                        masked += 1
                    else:
                        shown += 1
                    self.run.check(
                        (row["lead"] != mask) == expect_identity,
                        f"{username}: {queue} row {row['reference']} lead "
                        f"{'shown' if row['lead'] != mask else 'masked'}, policy says "
                        f"{'shown' if expect_identity else 'masked'}",
                    )
                    hidden = self.role(username) in self.facts["patient_leads_hidden_from"]
                    self.run.check(
                        not (is_patient and hidden),
                        f"{username}: sees patient lead row {row['reference']}",
                    )
            if patient_rows and shown and self.patient_identity_allowed(username):
                result.patient_data = f"shown ({patient_rows} patient rows)"
            elif patient_rows:
                result.patient_data = f"masked ({patient_rows} patient rows)"
            else:
                result.patient_data = "none listed"
            if masked and not shown:
                result.patient_data += ", all leads masked"
        for holder, references in sorted(stuck.items()):
            self.run.check(
                False,
                f"{len(references)} open referrals on the queue pages are assigned to {holder} "
                f"({self.role(holder)}), who may not claim or work them (e.g. "
                f"{', '.join(sorted(references)[:3])})",
                code="assigned-to-non-worker",
            )

    def check_referral_pages(self, *, stage_label: str, refusals: bool = True) -> None:
        """Every role opens every submitted referral: found or not, masked or not, actions.
        Without ``refusals``, only the pages the role may see (after the work: what the
        timelines now say), which keeps the run short."""
        mask = self.facts["mask"]
        for username, session in self.sessions.items():
            if not self.results[username].login_ok:
                continue
            for key, lead in self.leads.items():
                if not lead.url:
                    continue
                queue = self.queue_of[key]
                visible = self.may_view(username, queue, lead.kind)
                if not (visible or refusals):
                    continue
                html = session.goto(lead.url, expect_status=200 if visible else 404)
                if not visible:
                    self.run.check(
                        "not found" in html.lower() and lead.family not in html,
                        f"{username}: {lead.reference} refused but page leaks or differs",
                    )
                    continue
                facts = detail_facts(session)
                identity = self.sees_identity(username, queue, lead.kind)
                has_mask = mask in facts["lead_values"]
                self.run.check(
                    (lead.family in html) == identity and has_mask != identity,
                    f"{username}: {lead.reference} lead identity "
                    f"{'shown' if lead.family in html else 'masked'}, policy says "
                    f"{'shown' if identity else 'masked'}",
                )
                offered = offered_actions(session)
                allowed = {a for a in self.facts["action_roles"] if self.may_act(username, a)}
                self.run.check(
                    offered <= allowed,
                    f"{username}: {lead.reference} offers {sorted(offered - allowed)} "
                    "that the policy does not allow",
                )
                if username in ("auditor", "owner", "rep") and key in ("trial", "product"):
                    session.shot(f"{stage_label}-{key}")

    # -- 6. the work ----------------------------------------------------------------------

    def worker_for(self, key: str, preferred: str) -> str | None:
        """Who works the referral: its assignee if set (fair assignment chose them), else the
        preferred user. Nobody when the assignee may not claim it (already reported)."""
        assignee = self.assignee_of.get(key, "nobody")
        if assignee in ("", "nobody"):
            return preferred
        return assignee if self.may_act(assignee, "claim") else None

    def timeline_has(self, session: Session, lead: Lead, steps: list[str]) -> None:
        session.goto(lead.url)
        timeline = detail_facts(session)["timeline"]
        for step in steps:
            self.run.check(
                any(shows(entry, step) for entry in timeline),
                f"{session.name}: timeline of {lead.reference} lacks '{step}'",
            )
        session.shot(f"timeline-{lead.reference}")

    def start_work(self, key: str, default: str):
        """(lead, worker's username, their browser session, their action list) for the person
        who works this lead, or None when nobody can (the walkthrough records why)."""
        lead = self.leads[key]
        username = self.worker_for(key, default)
        if username is None or not lead.url:
            return None
        return lead, username, self.sessions[username], self.results[username].actions

    def note(self, key: str) -> str:
        return f"Spoke with the lead; walkthrough note {key}-{self.leads[key].family}."

    def work_trial(self) -> None:
        key = "trial"
        if (started := self.start_work(key, "coordinator")) is None:
            return
        lead, username, session, done = started
        queue = self.queue_of[key]
        if claim_from_queue(session, queue, lead.reference):
            done.append("claim (queue page)")
        if self.filter_queue(session, queue, lead.reference):
            done.append("filter queue")
        if self.search_by_email(session, lead, found=True):
            done.append("search by email")
        if self.search_by_email(session, lead, found=True, by_name=True):
            done.append("search by part of the name")
        if not open_referral(session, queue, lead.reference):
            return
        if do_action(
            session,
            "log_contact",
            {"party": "lead", "channel": "phone", "outcome": "reached", "note": self.note(key)},
            expect="Contact attempt (lead, phone): reached",
            label="trial-contact",
        ):
            done.append("log contact")
        if do_action(
            session,
            "record_prescreen",
            {"prescreen_outcome": "eligible"},
            expect="Prescreen outcome recorded: eligible",
            label="trial-prescreen",
        ):
            done.append("record prescreen")
        if do_action(
            session,
            "qualify",
            {"note": "Meets the prescreen criteria."},
            expect="Closed as qualified",
            label="trial-qualified",
        ):
            done.append("qualify + close")
        self.timeline_has(
            session,
            lead,
            [
                "Referral submitted",
                "Consent recorded",
                f"Routed to {queue}",
                f"Claimed by {username}",
                "Contact attempt (lead, phone): reached",
                "Prescreen outcome recorded: eligible",
                "Closed as qualified",
            ],
        )

    def work_ineligible(self) -> None:
        key = "ineligible"
        if (started := self.start_work(key, "coordinator")) is None:
            return
        lead, username, session, done = started
        queue = self.queue_of[key]
        if not open_referral(session, queue, lead.reference):
            return
        markers = f"failed markers {', '.join(lead.failed_markers)}"
        self.run.check(
            session.page.locator("#referral", has_text=markers).count() == 1,
            f"{username}: the prescreen's '{markers}' is not shown to the lead's worker",
        )
        if do_action(session, "claim", {}, expect=f"Claimed by {username}", label="inel-claim"):
            done.append("claim (referral page)")
        if do_action(
            session,
            "record_prescreen",
            {"prescreen_outcome": "not_eligible"},
            expect="Prescreen outcome recorded: not eligible",
            label="ineligible-prescreen",
        ):
            done.append("record prescreen (not eligible)")
        if do_action(
            session,
            "disqualify",
            {"reason_code": "criteria_not_met", "note": ""},
            expect="Closed as not qualified",
            label="ineligible-disqualified",
        ):
            done.append("disqualify + close")
        self.timeline_has(
            session,
            lead,
            [
                f"Claimed by {username}",
                "Prescreen outcome recorded: not eligible",
                "Closed as not qualified",
                "criteria_not_met",
            ],
        )

    def filter_queue(self, session: Session, queue: str, reference: str) -> bool:
        """The queue's filter form, as a user fills it: stage "In progress", Filter."""
        page = session.page
        session.goto(f"/desk/queues/{queue}")
        page.select_option("#id_stage", "in_progress")
        page.locator("form.desk-filters button[type=submit]").click()
        page.wait_for_url("**stage=in_progress**")
        session.snapshot()
        rows = queue_rows(session)
        ok = self.run.check(
            any(row["reference"] == reference for row in rows)
            and all(row["stage"].startswith("In progress") for row in rows),
            f"{session.name}: filtering {queue} by stage did not list {reference} alone with "
            "its stage",
        )
        return ok and self.run.check(
            "size=25" in page.url, f"{session.name}: the filter form changed the page size"
        )

    def search_by_email(
        self, session: Session, lead: Lead, *, found: bool, by_name: bool = False
    ) -> bool:
        """The search box with the lead's email — or part of each word of the lead's name,
        lower-cased (``by_name``): only roles that may see the lead may find it."""
        page = session.page
        session.goto("/desk/")
        query = f"{lead.given[:3].lower()} {lead.family[:4].lower()}" if by_name else lead.email
        page.fill("#desk-search-q", query)
        page.locator("form.desk-search button[type=submit]").click()
        page.wait_for_url("**/desk/search")
        # Not kept for the leak scan: the form shows the email the user typed, which is no
        # leak; what was found must be.
        results = page.locator("table.results").all_inner_texts()
        self.run.check(
            found or not any(lead.family in text for text in results),
            f"{session.name}: search by email shows {lead.reference}'s name",
        )
        hits = page.locator("table.results a", has_text=lead.reference).count()
        how = "name" if by_name else "email"
        return self.run.check(
            hits == (1 if found else 0),
            f"{session.name}: search by {lead.reference}'s {how} found {hits}, policy says "
            f"{1 if found else 0}",
        )

    def search_refused(self) -> None:
        """Roles that may not see patient data find nothing by a patient's email or name."""
        lead = self.leads["trial"]
        for username, session in self.sessions.items():
            if self.results[username].login_ok and not self.patient_identity_allowed(username):
                self.search_by_email(session, lead, found=False)
                self.search_by_email(session, lead, found=False, by_name=True)

    def reject_question(self) -> None:
        lead, key = self.leads["rejected"], "rejected"
        session, done = self.sessions["reviewer"], self.results["reviewer"].actions
        if not lead.url or not open_referral(session, self.queue_of[key], lead.reference):
            return
        if do_action(
            session,
            "reject_review",
            {"reason": "Outside the scope of the program."},
            expect="Medical review rejected",
            label="rejected",
        ):
            done.append("reject review")
        self.timeline_has(
            session,
            lead,
            ["Medical review requested", "Medical review rejected", "Closed as not qualified"],
        )

    def review_question(self) -> None:
        lead, key = self.leads["question"], "question"
        session, done = self.sessions["reviewer"], self.results["reviewer"].actions
        if not lead.url or not open_referral(session, self.queue_of[key], lead.reference):
            return
        if do_action(
            session,
            "approve_review",
            {"note": "Reviewed: the standard response may go."},
            expect="Medical review approved",
            label="question-approved",
        ):
            done.append("approve review")
        # The approval queues it again, maybe for someone else: read the new assignee.
        facts = detail_facts(session)["facts"]
        self.queue_of[key], self.assignee_of[key] = self.route(facts)
        self.run.log(
            f"  {lead.reference} after review: {facts.get('Stage')}, queue {self.queue_of[key]}, "
            f"assigned to {self.assignee_of[key]}"
        )
        self.workable(key)

    def work_question(self) -> None:
        key = "question"
        if (started := self.start_work(key, "specialist")) is None:
            return
        lead, username, session, done = started
        queue = self.queue_of[key]
        if not open_referral(session, queue, lead.reference):
            return
        if do_action(
            session, "claim", {}, expect=f"Claimed by {username}", label="question-claimed"
        ):
            done.append("claim (referral page)")
        if do_action(
            session,
            "log_contact",
            {"party": "lead", "channel": "email", "outcome": "reached", "note": self.note(key)},
            expect="Contact attempt (lead, email): reached",
            label="question-contact",
        ):
            done.append("log contact")
        if refuse_action(
            session, "disqualify", {}, error="Choose a reason code", label="question-refused"
        ):
            done.append("refused disqualify shows its error")
        if do_action(
            session,
            "disqualify",
            {"reason_code": "request_out_of_scope", "note": "Answered by the standard letter."},
            expect="Closed as not qualified",
            label="question-disqualified",
        ):
            done.append("disqualify + close")
        self.timeline_has(
            session,
            lead,
            [
                "Referral submitted",
                "Medical review requested",
                "Medical review approved",
                f"Claimed by {username}",
                "Contact attempt (lead, email): reached",
                "Closed as not qualified",
                "request_out_of_scope",
            ],
        )

    def work_product(self) -> None:
        key = "product"
        if (started := self.start_work(key, "rep")) is None:
            return
        lead, username, session, done = started
        queue = self.queue_of[key]
        if not open_referral(session, queue, lead.reference):
            return
        if do_action(session, "claim", {}, expect=f"Claimed by {username}", label="product-claim"):
            done.append("claim (referral page)")
        if do_action(
            session,
            "log_contact",
            {"party": "lead", "channel": "phone", "outcome": "declined", "note": self.note(key)},
            expect="Contact attempt (lead, phone): declined",
            label="product-contact",
        ):
            done.append("log contact")
        if do_action(
            session,
            "close",
            # One choice of outcome and reason: the reasons are grouped under their outcome.
            {"outcome_reason": "declined:lead_declined", "note": "No meeting wanted."},
            expect="Closed as declined",
            label="product-closed",
        ):
            done.append("close (declined)")
        self.timeline_has(
            session,
            lead,
            [f"Claimed by {username}", "Contact attempt (lead, phone): declined", "lead_declined"],
        )

    def work_support_without_js(self) -> None:
        key = "support"
        if (started := self.start_work(key, "agent")) is None:
            return
        lead, username, session, done = started
        tag = "" if session.javascript else " (no JS)"
        queue = self.queue_of[key]
        if claim_from_queue(session, queue, lead.reference):
            done.append(f"claim (queue page){tag}")
            self.run.check(
                session.page.get_by_text(f"You claimed {lead.reference}.").count() == 1
                or session.javascript,
                f"{username}: no 'You claimed' message after a plain-post claim",
            )
        if not open_referral(session, queue, lead.reference):
            return
        if do_action(
            session,
            "log_contact",
            {"party": "lead", "channel": "phone", "outcome": "reached", "note": self.note(key)},
            expect="Contact attempt (lead, phone): reached",
            label="support-contact",
        ):
            done.append(f"log contact{tag}")
        if refuse_action(session, "close", {}, error="Choose an outcome", label="support-refused"):
            done.append(f"refused close shows its error{tag}")
        if do_action(
            session, "qualify", {"note": ""}, expect="Closed as qualified", label="support-closed"
        ):
            done.append(f"qualify + close{tag}")
        self.timeline_has(
            session,
            lead,
            [
                f"Claimed by {username}",
                "Contact attempt (lead, phone): reached",
                "Closed as qualified",
            ],
        )

    def reroute_without_js(self) -> None:
        """The agent re-routes one of its demo referrals, with a plain form post: the form offers
        only the other queues of the referral's own program whose team may work a patient (not
        the trial team's queue: the lead consented to patient support only, nor drug safety:
        nobody there works patients); the referral moves and the page says so. The auditor then
        reads the re-route in its timeline, without the reason the agent typed."""
        username, target = NO_JS_USER, "patient-access"
        session, done = self.sessions[username], self.results[username].actions
        rows = []
        for queue in self.results[username].queues_seen:
            if queue == target:
                continue
            session.goto(f"/desk/queues/{queue}?assignee=me&stage=in_progress")
            rows = queue_rows(session)
            if rows:
                break
        if not self.run.check(bool(rows), f"{username}: no referral of its own to re-route"):
            return
        reference, page = rows[0]["reference"], session.page
        page.locator("#queue-rows a", has_text=reference).click()
        page.wait_for_url("**/desk/referrals/*")
        url = page.url.split("://", 1)[1].split("/", 1)[1]
        form = page.locator("#referral form.action-reroute")
        if not self.run.check(form.count() == 1, f"{username}: no 're-route' form offered"):
            return
        open_form(form)
        offered = form.locator("select[name=queue] option").evaluate_all(
            "options => options.map(option => option.value).filter(Boolean)"
        )
        self.run.check(
            offered == [target],
            f"{username}: re-route offers {offered}, not only {target} (its program, workable)",
        )
        form.locator("select[name=queue]").select_option(target)
        form.locator("textarea[name=reason]").fill("Walkthrough: asks about costs.")
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"**/{url}")
        html = page.content()
        if not self.run.check(
            self.route(detail_facts(session)["facts"])[0] == target,
            f"{username}: after re-routing, not in {target}",
        ):
            session.shot("reroute-failed")
            return
        session.snapshot()
        session.shot("rerouted")
        done.append(f"re-route{' (no JS)' if not session.javascript else ''}")
        auditor = self.sessions.get("auditor")
        if auditor is not None:
            html = auditor.goto(f"/{url}")
            self.run.check(
                shows(html, f"Re-routed to {target}") and "Walkthrough: asks" not in html,
                f"auditor: {reference}'s timeline lacks the re-route or shows its reason",
            )

    def work_from_my_work(self) -> None:
        """Issue 10's "Done when": the patient-services agent (no JavaScript) works the demo
        queue from My work to an outcome. My work -> Next referral (continuing the one in
        progress when offered) -> the referral page, whose only open form is the primary next
        step (every other action closed in the menu: nothing to scroll past) -> log a contact
        attempt with the referrer -> the primary step becomes Qualify -> closed, confirmed.
        Then the agent's notifications and preferences pages."""
        username = NO_JS_USER
        result = self.results.get(username)
        if result is None or not result.login_ok:
            return
        session, done = self.sessions[username], result.actions
        page = session.page
        session.goto("/desk/work")
        session.gallery("my-work-desktop")
        page.locator("form.next-form button[type=submit]").first.click()
        page.wait_for_load_state()
        session.snapshot()
        if page.locator("a", has_text="Continue").count():
            page.locator("a", has_text="Continue").first.click()
            page.wait_for_load_state()
            session.snapshot()
        if not self.run.check(
            "/desk/referrals/" in page.url, f"{username}: Next referral opened no referral"
        ):
            return
        done.append("next referral from My work")
        visible_forms = page.locator("#referral form.action:visible").count()
        primary = page.locator("#referral .primary-action form.action")
        self.run.check(
            primary.count() == 1 and visible_forms == 1,
            f"{username}: the referral page shows {visible_forms} open forms, expected only the "
            "primary next step",
        )
        if do_action(
            session,
            "log_contact",
            {"party": "referrer", "channel": "email", "outcome": "reached"},
            expect="Contact attempt (referrer, email): reached",
            label="my-work-contact",
        ):
            done.append("log contact (My work)")
        qualify = page.locator("#referral .primary-action form.action-qualify")
        self.run.check(
            qualify.count() == 1, f"{username}: after reaching someone, Qualify is not first"
        )
        if do_action(session, "qualify", {}, expect="Closed as qualified", label="my-work-done"):
            done.append("qualify (My work)")
            self.run.check(
                page.locator("#desk-messages", has_text="qualified and closed").count() == 1,
                f"{username}: no confirmation after qualifying",
            )
        session.goto("/desk/notifications")
        session.goto("/desk/preferences")

    def keyboard_on_a_queue(self) -> None:
        """With JavaScript, on a queue page: ``?`` opens the shortcuts help, ``j`` focuses the
        first row and ``k``/``j`` move along the rows, ``o`` opens the focused referral."""
        username = next(
            (
                name
                for name, result in self.results.items()
                if result.login_ok
                and result.queues_seen
                and self.sessions[name].javascript
                and self.patient_identity_allowed(name)
            ),
            None,
        )
        if username is None:
            return
        session, done = self.sessions[username], self.results[username].actions
        page = session.page
        session.goto(f"/desk/queues/{self.results[username].queues_seen[0]}")
        rows = page.locator(".row--focused")
        if page.locator("a[href^='/desk/referrals/']").count() == 0:
            return
        page.keyboard.press("?")
        help_open = page.locator("dialog#shortcuts-help[open]").count() == 1
        page.keyboard.press("Escape")
        page.keyboard.press("j")
        first = rows.count() == 1
        page.keyboard.press("o")
        try:
            page.wait_for_url("**/desk/referrals/**", timeout=5000)
            page.wait_for_load_state()
        except Exception:  # noqa: BLE001 (a Playwright timeout: reported below)
            pass
        opened = "/desk/referrals/" in page.url
        if self.run.check(
            help_open and first and opened,
            f"{username}: keyboard shortcuts on a queue page (help {help_open}, j {first}, "
            f"o {opened})",
        ):
            done.append("keyboard: ? j o")
        session.snapshot()

    def outreach_pages(self) -> None:
        """Issue 11: the medical reviewer reads the programs' templates and materials and one
        version with its approval history; the agent reads the development outbox; a lead's
        links from a message sent (the materials page, the call-back page) open without a
        login and name no patient."""
        reviewer = self.sessions.get("reviewer")
        if reviewer is not None and self.results["reviewer"].login_ok:
            html = reviewer.goto("/desk/content/")
            self.run.check("Templates and materials" in html, "reviewer: no content list")
            first = reviewer.page.locator("main table a[href^='/desk/content/']").first
            href = first.get_attribute("href") if first.count() else None
            self.run.check(href is not None, "reviewer: the content list links to no version")
            if href:
                html = reviewer.goto(href)
                self.run.check("Approval history" in html, "reviewer: no approval history")
                self.run.check("content.approved" not in html, "reviewer: raw audit codes shown")
        # The specialist works provider education, whose first messages go automatically.
        username = "specialist"
        agent = self.sessions.get(username)
        if agent is None or not self.results[username].login_ok:
            return
        html = agent.goto("/desk/outbox/")
        self.run.check("Outbox" in html, f"{username}: no outbox")
        links = {
            kind: re.findall(rf"{re.escape(self.base)}(/{kind}/[A-Za-z0-9_:.-]+)", html)
            for kind in ("m", "book")
        }
        visitor = self.referrer
        for kind, found in links.items():
            if not found:
                self.run.notice(f"the outbox holds no /{kind}/ link to open (no such message yet)")
                continue
            page = visitor.goto(found[0].rstrip("."))  # a link may end its sentence
            expected = (
                ("Materials for you",)
                if kind == "m"
                else ("Arrange a call", "Book a time", "Your appointment", "This request is closed")
            )
            self.run.check(
                any(words in page for words in expected),
                f"the /{kind}/ link from a sent message does not open its page",
            )

    def scheduling_pages(self) -> None:
        """Issue 12: the demo's scheduling story (booked through the lead's link, moved,
        missed) reads on its timeline with its manual check; the agent's agenda and
        availability open; and the story's lead books a new time through the link in the
        reschedule offer, then sees the confirmation with their time zone named."""
        username = "agent"
        agent = self.sessions.get(username)
        if agent is None or not self.results[username].login_ok:
            return
        html = agent.goto("/desk/agenda/?team=patient-services")
        self.run.check("Agenda" in html, "agent: the team agenda does not open")
        html = agent.goto("/desk/availability/")
        self.run.check(
            "working hours" in html.lower(), "agent: the availability page does not open"
        )
        if not self.story:
            self.run.check(False, "the demo printed no scheduling story")
            return
        agent.goto(f"/desk/search?q={self.story}")
        link = agent.page.locator("main a[href^='/desk/referrals/']").first
        href = link.get_attribute("href") if link.count() else None
        self.run.check(href is not None, f"agent: search finds no {self.story}")
        if href is None:
            return
        html = agent.goto(href)
        for words in ("Appointments", "No-show", "Checks waiting", "manual check opened"):
            self.run.check(words in html, f"agent: {self.story} shows no '{words}'")
        # The story's lead opens the link in the reschedule offer in their mailbox (the
        # development mail files) and books a new time.
        link = self.mailed_link(STORY_LEAD_EMAIL, "/book/")
        self.run.check(link is not None, "the story's lead has no booking link in their mail")
        if link is None:
            return
        visitor = self.referrer
        page = visitor.goto(link)
        heading = re.search(r"<h1>(.*?)</h1>", page, re.S)
        self.run.check(
            "Book a time" in page and "Free times" in page,
            "the reschedule offer's link does not offer free times (it shows "
            f"{heading.group(1).strip() if heading else 'no heading'!r})",
        )
        if "Free times" not in page:
            return
        visitor.page.locator("input[type=radio][name=start]").first.check()
        visitor.page.get_by_role("button", name="Book this time").click()
        visitor.page.wait_for_load_state()
        page = visitor.snapshot()
        if not self.run.check(
            "Your appointment is booked" in page and "America/" in page,
            "the lead's booking through the link shows no confirmation with its zone",
        ):
            return
        # ... and cancels it through the same page (the agent's My work goes on with it).
        visitor.page.locator("input[type=radio][name=reason]").first.check()
        visitor.page.get_by_role("button", name="Cancel the appointment").click()
        visitor.page.wait_for_load_state()
        page = visitor.snapshot()
        self.run.check(
            "Your appointment is cancelled" in page and "Free times" in page,
            "the lead's cancellation through the link is not confirmed with fresh times",
        )

    def mailed_link(self, address: str, kind: str) -> str | None:
        """The last link of ``kind`` (a path prefix) in mail sent to ``address``, as the lead
        would click it in their mailbox (the development mail backend writes files)."""
        found = None
        for path in sorted(self.mail_dir.glob("*.log")) if self.mail_dir else []:
            for chunk in path.read_bytes().split(b"-" * 79):
                message = email.message_from_bytes(chunk.strip(), policy=email.policy.default)
                if address not in str(message.get("To", "")):
                    continue
                body = message.get_body(preferencelist=("plain",))
                text = body.get_content() if body is not None else ""
                links = re.findall(rf"{re.escape(self.base)}({kind}[A-Za-z0-9_:.-]+)", text)
                if links:
                    found = links[-1].rstrip(".")
        return found

    def auditor_reads_the_work(self) -> None:
        """After the work: the auditor sees every step but no lead identity and no notes."""
        session = self.sessions.get("auditor")
        if session is None or not self.results["auditor"].login_ok:
            return
        for key, lead in self.leads.items():
            if not lead.url:
                continue
            html = session.goto(lead.url)
            self.run.check(
                self.note(key) not in html and "walkthrough note" not in html,
                f"auditor: the free-text contact note of {lead.reference} is shown",
            )
            self.run.check(
                "Closed as" in html, f"auditor: {lead.reference} timeline lacks its outcome"
            )
            self.run.check(offered_actions(session) == set(), "auditor: actions offered")
            session.shot(f"audited-{key}")

    def reports_and_trail(self) -> None:
        """Issue 13: the owner reads last month on the reports dashboard and downloads the
        monthly pack (a PDF); the commercial rep sees the numbers but no referral; the auditor
        finds a worked referral in the trail, opens its history, verifies the chain from the
        console (a background run, polled until it ends) and exports the events (a zip)."""
        owner = self.sessions.get("owner")
        if owner is not None and self.results["owner"].login_ok:
            html = owner.goto("/desk/reports/?program=patient-support&period=last_month")
            for words in ("Headline figures", "data:image/svg+xml", "Funnel", "SLA attainment"):
                self.run.check(words in html, f"owner: the reports dashboard shows no {words!r}")
            self.run.check(
                "Oldest open work" in html, "owner: the dashboard lists no oldest open work"
            )
            owner.page.locator("#f-format").select_option("pdf")
            with owner.page.expect_download() as info:
                owner.page.get_by_role("button", name="Download the pack").click()
            path = info.value.path()
            data = Path(path).read_bytes() if path else b""
            self.run.check(
                data.startswith(b"%PDF") and len(data) > 10_000,
                "owner: the monthly pack's PDF did not download",
            )
            owner.shot("reports-dashboard")
        rep = self.sessions.get("rep")
        if rep is not None and self.results["rep"].login_ok:
            html = rep.goto("/desk/reports/?period=last_12_months")
            self.run.check("Headline figures" in html, "rep: the reports dashboard does not open")
            self.run.check(
                "Oldest open work" not in html and "/desk/referrals/" not in html,
                "rep: the reports dashboard links to referrals",
            )
        auditor = self.sessions.get("auditor")
        if auditor is None or not self.results["auditor"].login_ok:
            return
        worked = next((lead for lead in self.leads.values() if lead.reference), None)
        if worked is None:
            return
        html = auditor.goto(f"/desk/audit/?subject={worked.reference}")
        self.run.check(
            "referral.submitted" in html or "referral.routed" in html,
            f"auditor: the trail search finds no event of {worked.reference}",
        )
        html = auditor.goto(f"/desk/audit/referrals/{worked.reference}/")
        self.run.check(
            "Audit history of" in html and "patient_data_viewed" in html,
            f"auditor: {worked.reference}'s history does not show who viewed it",
        )
        for value in worked.identity:
            self.run.check(
                value not in html, f"auditor: {worked.reference}'s history shows a lead value"
            )
        auditor.goto("/desk/audit/verify")
        auditor.page.get_by_role("button", name="Verify the chain now").click()
        auditor.page.wait_for_load_state()
        # A background run polled by the page: wait for its end (a failure is checked below).
        with contextlib.suppress(Exception):
            auditor.page.locator(".audit-ok, .audit-problem").first.wait_for(timeout=90_000)
        html = auditor.snapshot()
        self.run.check(
            "The chain is intact" in html, "auditor: the console's verification did not end intact"
        )
        auditor.goto(f"/desk/audit/?subject={worked.reference}")
        with auditor.page.expect_download() as info:
            auditor.page.get_by_role("button", name="Export these events").click()
        path = info.value.path()
        data = Path(path).read_bytes() if path else b""
        self.run.check(data.startswith(b"PK"), "auditor: the signed extract did not download")

    # -- 7. leaks ---------------------------------------------------------------------------

    def check_leaks(self) -> None:
        patients = [lead for lead in self.all_leads if lead.kind == "patient" and lead.reference]
        for username, session in self.sessions.items():
            if self.patient_identity_allowed(username):
                continue
            for lead in patients:
                markers = ", ".join(lead.failed_markers)
                for value in [*lead.identity, *([f"markers {markers}"] if markers else [])]:
                    hits = sum(value in html for html in session.pages_html)
                    self.run.check(
                        hits == 0,
                        f"{username}: patient identity '{value}' of {lead.reference} "
                        f"appeared on {hits} page(s)",
                    )

    # -- 8. the front door, the phone width, the gallery ----------------------------------

    def front_door(self, session: Session) -> None:
        """``/``: a short page for staff (sign in) and referrers (how to get a link)."""
        response = session.page.goto("/")
        status = response.status if response else 0
        session.snapshot()
        self.run.check(status == 200, f"{session.name}: GET / gave {status}")
        self.run.check(
            session.page.locator("a", has_text="Sign in").count() >= 1,
            f"{session.name}: the front door offers no sign-in",
        )
        session.gallery(f"front-{'phone' if session.phone else 'desktop'}")

    def new_session(self, browser, name: str, **options) -> Session:
        session = Session(self.run, browser, self.base, name, **options)
        self.extra_sessions.append(session)
        return session

    def phone_visitor(self, browser) -> None:
        """A referrer and a staff member on a phone, signed out: the front door, every program's
        intake form, one sent empty (its error page), the sign-in and second-factor pages."""
        session = self.new_session(
            browser, "phone-visitor", phone=True, headers={"X-Forwarded-For": PHONE_ADDRESS}
        )
        self.front_door(session)
        programs = sorted(self.links, key=lambda program: (program == "patient-support", program))
        for program in programs:
            session.goto(path_of(self.links[program]))
        session.gallery("intake-phone")
        # The last form (patient support, when there is one) sent with nothing filled in.
        session.page.click("form[method=post] button[type=submit]")
        session.page.wait_for_load_state()
        html = session.snapshot()
        self.run.check(
            'class="error-summary' in html,
            f"phone visitor: the {programs[-1]} intake form sent empty shows no error summary",
        )
        session.gallery("intake-error-phone")
        # Up to the second factor only: each demo user's TOTP code was used by its login.
        demo = self.logins.get(NO_JS_USER) or next(iter(self.logins.values()))
        session.goto("/desk/")
        session.gallery("login-phone")
        session.page.fill("input[name=login]", demo.username)
        session.page.fill("input[name=password]", demo.password)
        session.page.click("form[action$='/accounts/login/'] button[type=submit]")
        session.page.wait_for_url("**/accounts/2fa/authenticate/")
        session.snapshot()
        session.gallery("two-factor-phone")

    def staff_on_both_widths(self, browser) -> None:
        """The desk on a phone and, for the gallery, on a desktop with JavaScript, as the agent
        (its signed-in cookies copied; JavaScript on): the queue list, its first queue, the
        first referral listed there. Then the drug-safety notice, when a role works it."""
        username = NO_JS_USER
        if not self.results.get(username) or not self.results[username].queues_seen:
            username = next(
                (name for name, result in self.results.items() if result.queues_seen), None
            )
        if username is None:
            self.run.check(False, "nobody with a queue signed in: no desk pages on a phone")
            return
        state = self.sessions[username].context.storage_state()
        queue, referral = self.results[username].queues_seen[0], None
        for phone in (True, False):
            width = "phone" if phone else "desktop"
            session = self.new_session(
                browser, f"{username}-{width}", phone=phone, storage_state=state,
                role=self.role(username),
            )  # fmt: skip
            session.audit_role = session.role
            session.goto("/desk/")
            session.gallery(f"queues-{width}")
            session.goto(f"/desk/queues/{queue}")
            session.gallery(f"queue-{width}")
            if referral is None:
                link = session.page.locator("a[href^='/desk/referrals/']").first
                referral = link.get_attribute("href") if link.count() else ""
            if self.run.check(bool(referral), f"{session.name}: no referral listed in {queue}"):
                session.goto(referral)
                session.gallery(f"referral-{width}")
        self.safety_notice()

    def safety_notice(self) -> None:
        """The drug-safety officer works the demo's possible adverse event: the notice list
        (open notices, triage due soonest first), the notice page (day 0, the triage window,
        the flagged text), a triage without a decision refused with its error summary first,
        then acknowledge, triage as a serious adverse event with the safety database's case
        id, and the notice closed, listed among the closed ones with its case id."""
        username = next(
            (name for name, result in self.results.items() if "safety" in result.role), None
        )
        if not self.run.check(username is not None, "no drug-safety officer among the logins"):
            return
        result = self.results[username]
        if not self.run.check(result.login_ok, f"{username}: could not sign in"):
            return
        session, done = self.sessions[username], result.actions
        page = session.page
        session.goto("/desk/safety/notices")
        link = page.locator("a[href^='/desk/safety/notices/']").first
        if not self.run.check(link.count() == 1, f"{username}: no open drug-safety notice listed"):
            return
        notice_url = link.get_attribute("href")
        session.goto(notice_url)
        session.gallery("safety-notice")
        html = page.content()
        self.run.check("Triage due" in html or "triage" in html.lower(), f"{username}: no clock")
        triage = page.locator("form[action$='/triage']")
        triage.locator("input[name=case_id]").fill("PV-E2E-0001")
        triage.locator("button[type=submit]").click()
        page.wait_for_load_state()
        session.snapshot()
        focused = page.evaluate("document.activeElement && document.activeElement.id")
        if self.run.check(
            page.locator(".error-summary").count() == 1
            and page.title().startswith("Error:")
            and page.locator("input[name=case_id]").input_value() == "PV-E2E-0001",
            f"{username}: a triage without a decision showed no error, or lost the case id",
        ):
            done.append("refused triage keeps the case id")
        self.run.check(focused == "error-summary", f"{username}: the error summary has no focus")
        page.locator("form[action$='/acknowledge'] button[type=submit]").click()
        page.wait_for_load_state()
        session.snapshot()
        if self.run.check(
            page.get_by_text("acknowledged", exact=False).count() >= 1,
            f"{username}: no confirmation of the acknowledgement",
        ):
            done.append("acknowledge notice")
        triage = page.locator("form[action$='/triage']")
        triage.locator("input[name=decision][value=ae_serious]").check()
        triage.locator("input[name=case_id]").fill("PV-E2E-0001")
        triage.locator("button[type=submit]").click()
        page.wait_for_load_state()
        session.snapshot()
        if self.run.check(
            page.locator(".safety-closed").count() == 1,
            f"{username}: the notice is not closed after a serious-AE triage",
        ):
            done.append("triage serious AE with case id")
        session.goto("/desk/safety/notices?show=closed")
        self.run.check(
            page.locator("td", has_text="PV-E2E-0001").count() == 1,
            f"{username}: the closed notice is not listed with its case id",
        )

    def close(self) -> None:
        for session in [*self.sessions.values(), self.referrer, *self.extra_sessions]:
            if session is not None:
                session.close()


# --- setup and teardown ------------------------------------------------------------------------


def refdesk(env: dict, *args: str, timeout: float) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "refdesk", *args],
        env=env,
        cwd=env["REFDESK_DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"refdesk {' '.join(args)} failed:\n{completed.stderr[-3000:]}")
    return completed.stdout


def start_server(env: dict, port: int, log_path: Path) -> subprocess.Popen:
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "refdesk", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=env["REFDESK_DATA_DIR"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the worker and granian stop with it
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early; see {log_path}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
            return process
        except OSError:
            time.sleep(0.3)
    stop_server(process)
    raise RuntimeError("the server did not answer within 30 s")


def stop_server(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def print_summary(walk: Walkthrough, run: Run) -> None:
    headers = ("role", "user", "login", "queues", "= policy", "patient data", "actions done")
    rows = []
    for result in walk.results.values():
        same = result.login_ok and result.queues_seen == result.queues_expected
        rows.append(
            (
                result.role,
                result.username,
                "ok" if result.login_ok else "FAILED",
                str(len(result.queues_seen)),
                "yes" if same else "NO",
                result.patient_data,
                textwrap.wrap(", ".join(result.actions), width=60) or ["-"],
            )
        )
    widths = [max(len(str(row[i])) for row in (headers, *rows)) for i in range(len(headers) - 1)]
    widths.append(max(len(part) for row in rows for part in row[-1]))
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print()
    print(line.format(*headers).rstrip())
    print(line.format(*("-" * width for width in widths)))
    for *cells, actions in rows:
        print(line.format(*cells, actions[0]).rstrip())
        for more in actions[1:]:  # the actions column wraps
            print(line.format(*([""] * len(cells)), more).rstrip())
    print()
    for result in walk.results.values():
        seen = ", ".join(result.queues_seen) or "(none)"
        print(f"queues of {result.username}: {seen}")
        if result.queues_seen != result.queues_expected:
            print(f"  policy says: {', '.join(result.queues_expected) or '(none)'}")
    for lead in walk.leads.values():
        reference = lead.reference or "(not submitted)"
        print(f"referral {reference}: {lead.program}, {lead.request_type}")
    print(f"screenshots: {run.shot_dir} ({run.shots})")
    if run.gallery_dir is not None:
        print(f"gallery: {run.gallery_dir} ({', '.join(run.gallery) or 'none'})")
    if run.pages is not None:
        run.pages.print_table()
    for notice in run.notices:
        print(f"\nTODO {notice}")
    if run.failures:
        print(f"\n{len(run.failures)} FAILURE(S):")
        for failure in run.failures:
            print(f"  - {failure}")
    else:
        print("\nOK: every check passed.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screenshots", default=None, help="directory for the screenshots")
    parser.add_argument("--timeout", type=int, default=240, help="seconds for the whole run")
    parser.add_argument("--referrals", type=int, default=100, help="demo referrals to create")
    parser.add_argument("--chromium", default=CHROMIUM, help="the Chromium executable")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, log)")
    parser.add_argument("--report", default=None, help="write the findings as JSON here")
    parser.add_argument("--no-screenshots", action="store_true", help="faster: no screenshots")
    parser.add_argument("--gallery", default=None, help="write the named screenshots here")
    parser.add_argument("--axe", default=str(AXE), help="axe.min.js (make install-e2e)")
    parser.add_argument("--no-axe", action="store_true", help="faster: no accessibility audit")
    args = parser.parse_args(argv)

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("Playwright is missing: .venv/bin/pip install -e '.[e2e]'", file=sys.stderr)
        return 2
    if not Path(args.chromium).exists():
        print(f"No Chromium at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    axe_source = None
    if not args.no_axe:
        if not Path(args.axe).exists():
            print(f"No axe-core at {args.axe} (make install-e2e)", file=sys.stderr)
            return 2
        axe_source = Path(args.axe).read_text()

    tmp = Path(tempfile.mkdtemp(prefix="refdesk-e2e-"))
    args.screenshots = args.screenshots or str(tmp / "screenshots")
    run = Run(args)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = bench_environment("sqlite", tmp, pg_db="")
    # One trusted proxy: the phone visitor comes from its own address (X-Forwarded-For).
    env.update(
        DJANGO_SETTINGS_MODULE="refdesk.settings.base",
        REFDESK_BASE_URL=base,
        REFDESK_TRUSTED_PROXIES="1",
    )

    def on_alarm(signum, frame):
        raise Timeout(f"the walkthrough took longer than {args.timeout} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.timeout)
    server = walk = None
    started = time.monotonic()
    try:
        run.step(f"1. environment in {tmp}")
        # Static files (the pages need their manifest) are collected meanwhile: no database.
        static = subprocess.Popen(
            [sys.executable, "-m", "refdesk", "collectstatic", "--no-input", "--verbosity", "0"],
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
        )
        refdesk(env, "migrate", "--no-input", "--verbosity", "0", timeout=120)
        demo_output = refdesk(env, "demo", "--referrals", str(args.referrals), timeout=180)
        if static.wait(timeout=120) != 0:
            raise RuntimeError("refdesk collectstatic failed")
        logins, links = parse_demo_output(demo_output)
        story = re.search(r"Scheduling story: (RF-[0-9A-Z-]+)", demo_output)
        run.check(len(logins) >= 8, f"demo printed {len(logins)} logins, expected 8")
        run.check(len(links) == 3, f"demo printed {len(links)} intake links, expected 3")
        run.log(f"   demo logins: {', '.join(login.username for login in logins)}")
        facts_output = refdesk(env, "shell", "--no-imports", "-c", FACTS_CODE, timeout=60)
        facts = json.loads(facts_output.split("FACTS ", 1)[1])
        programs = {path_of(link).split("/")[2]: program for program, link in links.items()}
        run.pages = PageChecks(run, axe_source, programs)
        run.step(f"2. server on {base}")
        server = start_server(env, port, tmp / "server.log")
        walk = Walkthrough(run, facts, logins, links, base)
        walk.story = story.group(1) if story else ""
        walk.mail_dir = Path(env["REFDESK_DATA_DIR"]) / "mail"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            try:
                run.step("3. every demo role logs in")
                walk.login_everyone(browser)
                run.step("4. referrals through the public intake pages")
                walk.submit_referrals(browser)
                walk.locate_all()
                run.step("5. what each role sees: queues, lead data, referral pages, actions")
                walk.check_queue_pages()
                walk.check_referral_pages(stage_label="before")
                run.step("6. working the referrals")
                walk.work_trial()
                walk.work_ineligible()
                walk.search_refused()
                walk.review_question()
                walk.reject_question()
                walk.work_question()
                walk.work_product()
                walk.work_support_without_js()
                walk.reroute_without_js()
                walk.scheduling_pages()  # before My work: the agent's next step closes it
                walk.work_from_my_work()
                walk.keyboard_on_a_queue()
                walk.auditor_reads_the_work()
                walk.reports_and_trail()
                walk.outreach_pages()
                walk.check_referral_pages(stage_label="after", refusals=False)
                walk.check_leaks()
                run.step("7. phone width (390x844): public pages, sign-in, the desk")
                walk.front_door(walk.referrer)
                walk.phone_visitor(browser)
                walk.staff_on_both_widths(browser)
            finally:
                walk.close()
                browser.close()
    except Timeout as error:
        run.check(False, str(error))
    except Exception as error:  # noqa: BLE001 (reported, then the summary and cleanup)
        run.check(False, f"walkthrough aborted: {type(error).__name__}: {error}")
        traceback.print_exc()  # where it broke, for whoever reads the CI log
    finally:
        signal.alarm(0)
        stop_server(server)
    if run.pages is not None:
        run.pages.failures()
    if walk is not None:
        print_summary(walk, run)
    if args.report:
        findings = [
            {"code": code, "message": message}
            for code, message in zip(run.codes, run.failures, strict=True)
        ]
        report = {"failures": findings, "notices": run.notices, "gallery": run.gallery}
        if run.pages is not None:
            report["pages"] = run.pages.report()
        Path(args.report).write_text(json.dumps(report, indent=2))
    print(f"took {time.monotonic() - started:.0f} s")
    if args.keep or run.failures:
        print(f"kept {tmp} (server.log, database)")
    else:  # everything but the screenshots
        for path in tmp.iterdir():
            if path != Path(args.screenshots):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
