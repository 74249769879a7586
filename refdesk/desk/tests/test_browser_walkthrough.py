"""Issue 5's "Done when" in a real browser: ``e2e/walkthrough.py`` run as a test, on request.

CI runs the walkthrough (with axe-core, at desktop and phone widths) as a step of its own after
the test suites (``make e2e`` in ``.ci/run``), so this wrapper does not run it a second and a
third time inside ``make test``: it runs only with ``RUN_BROWSER_WALKTHROUGH=1``, and then a
missing Playwright, Chromium or axe-core fails it (the script exits 2), as in CI. The
walkthrough builds its own temp dir, SQLite file, secrets and server (nothing is shared with the
test database) and takes one to three minutes.

Findings that belong to another part of the tree are reported by the walkthrough with a code;
the one known here (``assigned-to-non-worker``: fair assignment gives referrals to the program
owner, who may not claim them; ``refdesk/routing/assignment.py``) makes this test xfail with the
walkthrough's words rather than fail, until it is fixed. Any other finding (``axe``,
``overflow`` included) fails it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
KNOWN_ELSEWHERE = {"assigned-to-non-worker"}

pytestmark = pytest.mark.skipif(
    os.environ.get("RUN_BROWSER_WALKTHROUGH") != "1",
    reason="the browser walkthrough is CI's own step (make e2e); RUN_BROWSER_WALKTHROUGH=1 runs it",
)


def test_every_demo_role_logs_in_sees_its_share_and_works_referrals_in_a_browser(tmp_path):
    report = tmp_path / "report.json"
    # The test settings' environment (keys, REFDESK_ENV=test) must not reach the server.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REFDESK_", "DJANGO_")) and key not in ("SECRET_KEY", "DATABASE_URL")
    }
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "e2e" / "walkthrough.py"),
            "--referrals",
            "30",
            "--no-screenshots",
            "--timeout",
            "420",
            "--report",
            str(report),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=480,
    )
    output = completed.stdout[-6000:] + completed.stderr[-2000:]
    assert report.exists(), output
    failures = json.loads(report.read_text())["failures"]
    if failures and {failure["code"] for failure in failures} <= KNOWN_ELSEWHERE:
        pytest.xfail("; ".join(failure["message"] for failure in failures))
    assert completed.returncode == 0 and not failures, output
