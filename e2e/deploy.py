"""The deployment test: docs/deploy.md, followed verbatim on a fresh PostgreSQL database.

Every ```sh block of the guide runs, in order, in one bash shell (``set -euo pipefail``), except
the "Your values" block, which this script replaces with its own: a temporary directory for the
virtualenv, configuration and data, a database created for the run, free ports, and a real SMTP
server (aiosmtpd) that this script runs. The guide installs refdesk from this checkout into a new
virtualenv, makes the secrets, migrates, collects static files, runs ``check --deploy``, creates
the first administrator, applies the programs, and starts two web nodes and a worker; then this
script checks the running system as its users would:

- ``/healthz`` and ``/readyz`` answer 200 on each node over plain HTTP, by address;
- a referrer added with the CLI gets an intake page through each node (as the proxy forwards it:
  ``Host`` the site, ``X-Forwarded-Proto: https``), and plain HTTP is redirected to HTTPS;
- a referral submitted through the partner API on the second node is stored (201), and the task
  it causes (the completion request to the referrer) is run by the worker and arrives at the
  SMTP server;
- the audit chain verifies;
- the backup the guide took restores into a new database (``refdesk restore``) whose chain
  verifies against the anchor the guide took before it (docs/backup.md's drill).

Everything it started is stopped, and the database dropped, in every case. Exit 0 when all
holds; 1 with the failing step and the tail of the logs otherwise. Bounded by ``--timeout``.

    .venv/bin/python e2e/deploy.py [--timeout 900] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from email import message_from_bytes
from pathlib import Path

import psycopg
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "deploy.md"
SERVER = "postgres://postgres@127.0.0.1:5432"
SITE = "refdesk.example.org"
REFERRER_EMAIL = "coordinator@site.example.org"
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


class Failed(Exception):
    pass


def guide_blocks(text: str) -> list[str]:
    blocks = BLOCK.findall(text)
    values = [i for i, block in enumerate(blocks) if block.startswith("# Your values")]
    if len(values) != 1:
        raise Failed("docs/deploy.md must have exactly one ```sh block starting '# Your values'")
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """aiosmtpd handler: keeps every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def request(url, *, data=None, headers=None, method=None):
    """(status, headers, body) without following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)
    print(f"ok: {what}")


class Deployment:
    def __init__(self, work: Path, database: str, smtp_port: int):
        self.work = work
        self.database = database
        self.smtp_port = smtp_port
        self.ports = [free_port(), free_port()]
        self.home = work / "home"
        self.config = work / "etc"
        self.log = work / "guide.log"
        self.process = None

    def values(self) -> str:
        assign = {
            "REFDESK_SOURCE": str(ROOT),
            "REFDESK_HOME": str(self.home),
            "REFDESK_CONFIG": str(self.config),
            "PYTHON": sys.executable if sys.version_info >= (3, 12) else "python3.12",
            "SITE": SITE,
            "DATABASE_URL": f"{SERVER}/{self.database}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "MAIL_FROM": "Patient Services <no-reply@example.org>",
            "NODE_PORTS": " ".join(map(str, self.ports)),
        }
        lines = ["# Your values (the deployment test's)"]
        lines += [f"{name}={shlex.quote(value)}" for name, value in assign.items()]
        return "\n".join(lines) + "\n"

    def script(self) -> str:
        parts = ["set -euo pipefail"]
        for number, block in enumerate(guide_blocks(GUIDE.read_text(encoding="utf-8")), 1):
            parts.append(f"echo '==== docs/deploy.md, sh block {number} ===='")
            parts.append(self.values() if block.startswith("# Your values") else block)
        return "\n".join(parts) + "\n"

    def run_guide(self, timeout: float) -> None:
        script = self.work / "guide.sh"
        script.write_text(self.script(), encoding="utf-8")
        # Only what a fresh login shell has: no DATABASE_URL, settings module or secrets.
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        # The guide's background processes share this session, so one killpg stops them all.
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                ["bash", str(script)],
                cwd=self.work,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                status = self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Failed(f"the guide did not finish within {timeout:.0f} s") from None
        expect(status == 0, "every sh block of docs/deploy.md ran (exit 0)")

    def environment(self) -> dict:
        """What the guide's shell had after section 6: its two files, loaded as it loads them."""
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        files = " ".join(shlex.quote(str(self.config / n)) for n in ("refdesk.env", "secrets.env"))
        dump = subprocess.run(
            ["bash", "-c", f'set -a; for f in {files}; do . "$f"; done; env -0'],
            env=base,
            capture_output=True,
            check=True,
        ).stdout.decode()
        env = dict(item.split("=", 1) for item in dump.split("\0") if "=" in item)
        env["PATH"] = f"{self.home / 'venv' / 'bin'}:{base['PATH']}"
        return env

    def refdesk(self, *args, env: dict | None = None) -> str:
        result = subprocess.run(
            ["refdesk", *args],
            env={**self.environment(), **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise Failed(f"refdesk {args[0]} {args[1] if len(args) > 1 else ''} failed: "
                         f"{result.stderr.strip()[-800:]}")  # fmt: skip
        return result.stdout

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def check_running_system(deployment: Deployment, inbox: Inbox) -> None:
    nodes = [f"http://127.0.0.1:{port}" for port in deployment.ports]
    for node in nodes:
        for path in ("/healthz", "/readyz"):
            status, _, body = request(node + path)
            expect(status == 200, f"{path} on {node} answers 200 over plain HTTP by address")
        assert json.loads(body)["status"] == "ready", body

    added = deployment.refdesk(
        "referrer", "add", "--program", "trial-prescreening", "--source", "study-coordinator",
        "--name", "Deploy Test Site", "--email", REFERRER_EMAIL, "--kind", "organization",
    )  # fmt: skip
    code = re.search(r"^code: (\S+)$", added, re.MULTILINE).group(1)
    proxied = {"Host": SITE, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    for node in nodes:
        status, _, body = request(f"{node}/r/{code}", headers=proxied)
        expect(
            status == 200 and b"<form" in body,
            f"the intake page through {node}, as the proxy forwards it, answers 200 with its form",
        )
    for path in ("/", "/accounts/login/", "/api/v1/docs"):
        status, _, body = request(nodes[0] + path, headers=proxied)
        expect(status == 200, f"{path} (static files, templates) answers 200")
    status, headers, _ = request(f"{nodes[0]}/r/{code}", headers={"Host": SITE})
    expect(
        status == 301 and headers["Location"].startswith(f"https://{SITE}/"),
        "plain HTTP to the site is redirected to HTTPS",
    )

    keyed = deployment.refdesk("partner", "key", "--referrer", code)
    key = re.search(r"^key: (\S+)$", keyed, re.MULTILINE).group(1)
    api = {**proxied, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    status, _, body = request(f"{nodes[1]}/api/v1/programs/trial-prescreening", headers=api)
    expect(status == 200, "the partner API answers on the second node")
    consent_version = json.loads(body)["consent"]["current_text_version"]
    referral = {
        "program": "trial-prescreening",
        "source": "study-coordinator",
        "request_type": "trial_prescreen",
        "therapy_area": "oncology",
        # No given name: stored as needs_info, which queues the completion request task.
        "lead": {
            "kind": "patient",
            "family_name": "Deploycheck",
            "email": "lead@example.org",
            "phone": "(617) 555-0142",
            "preferred_contact": "phone",
            "timezone": "America/Chicago",
            "language": "en",
            "country": "US",
            "birth_year": 1970,
        },
        "consent": {
            "granted": True,
            "purposes": ["trial_contact"],
            "channels": ["phone", "email"],
            "method": "attested_by_referrer",
            "text_version": consent_version,
        },
        "answers": {
            "study_id": "RDX-301",
            "age": 54,
            "diagnosis_confirmed": True,
            "ecog": 1,
            "prior_therapy_lines": 1,
            "active_brain_metastases": False,
        },
    }
    status, _, body = request(
        f"{nodes[1]}/api/v1/referrals",
        data=json.dumps(referral).encode(),
        headers=api,
        method="POST",
    )
    expect(status == 201, f"a referral submitted through the API is stored (got {status})")
    created = json.loads(body)
    expect(created["stage"] == "needs_info", "it waits for the missing given name")
    reference = created["reference"]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        delivered = [
            message
            for recipients, message in inbox.messages
            if REFERRER_EMAIL in recipients and reference in message["Subject"]
        ]
        if delivered:
            break
        time.sleep(1)
    expect(
        bool(delivered),
        "the worker ran the completion-request task and the SMTP server received its email",
    )

    verified = deployment.refdesk("audit", "verify")
    expect("intact" in verified, "the audit chain verifies")


def restore_drill(deployment: Deployment) -> None:
    """docs/backup.md's drill on the backup and anchor the guide took: restore into a new,
    empty database with the same keys, then verify the chain against the anchor."""
    backups = deployment.home / "backups"
    [dump] = backups.glob("refdesk-*.dump")
    [anchor] = backups.glob("anchor-*.json")
    target = f"{deployment.database}_restore"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{target}"')
    try:
        env = {"DATABASE_URL": f"{SERVER}/{target}"}
        restored = deployment.refdesk("restore", str(dump), env=env)
        expect("restored" in restored, "the guide's backup restores into an empty database")
        verified = deployment.refdesk("audit", "verify", "--anchor", str(anchor), env=env)
        expect("intact" in verified, "the restored chain verifies against the anchor")
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()
    # Stopped from outside (CI's own timeout): still stop the nodes and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    database = f"refdesk_deploy_{os.getpid()}_{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="refdesk-deploy-"))
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    deployment = Deployment(work, database, smtp.port)
    status = 0
    try:
        deployment.run_guide(timeout=options.timeout * 0.8)
        check_running_system(deployment, inbox)
        restore_drill(deployment)
        print(f"OK: the deployment guide works ({time.monotonic() - started:.0f} s)")
    except (Failed, AssertionError, AttributeError, KeyError, ValueError) as error:
        status = 1
        print(f"FAILED: {error}")
        for log in [deployment.log, *sorted((work / "home" / "var" / "log").glob("*.log"))]:
            if log.exists():
                print(f"---- last lines of {log.name} ----")
                print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
    finally:
        deployment.stop()
        smtp.stop()
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if options.keep:
            print(f"work directory kept: {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    return status


if __name__ == "__main__":
    sys.exit(main())
