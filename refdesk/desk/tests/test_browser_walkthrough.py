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

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
KNOWN_ELSEWHERE = {"assigned-to-non-worker"}


@pytest.fixture(scope="module")
def walkthrough():
    """e2e/walkthrough.py as a module (its helpers need no browser)."""
    name = "e2e_walkthrough"
    spec = importlib.util.spec_from_file_location(name, ROOT / "e2e" / "walkthrough.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]


def test_pages_are_checked_once_per_address_pattern_without_ids(walkthrough):
    programs = {"K7Q3M9X": "patient-support"}
    pattern = walkthrough.page_pattern
    uuid = "0b9c6f7e-1d2a-4c3b-9e8f-7a6b5c4d3e2f"
    assert pattern(f"http://127.0.0.1:8000/desk/referrals/{uuid}?x=1", programs) == (
        "/desk/referrals/{id}"
    )
    assert pattern(f"/desk/referrals/{uuid}/actions/close", programs) == (
        "/desk/referrals/{id}/actions/close"
    )
    assert pattern("/desk/queues/patient-access?stage=open", programs) == "/desk/queues/{queue}"
    assert pattern("/r/K7Q3M9X", programs) == "/r/{code} (patient-support)"
    assert pattern("/r/K7Q3M9X/thanks/abc.def", programs) == "/r/{code}/thanks/{token}"
    assert pattern("/r/status/abc.def", programs) == "/r/status/{token}"
    assert pattern("/desk/search?q=RF-ABCD-1234", programs) == "/desk/search"
    assert pattern("http://127.0.0.1:8000/", programs) == "/"


def test_serious_and_critical_axe_violations_fail_the_walkthrough_once_per_rule_and_page(
    walkthrough, tmp_path
):
    args = argparse.Namespace(screenshots=str(tmp_path), gallery=None, no_screenshots=True)
    run = walkthrough.Run(args)
    checks = walkthrough.PageChecks(run, None, {})

    def violation(rule, impact, target):
        return {"id": rule, "impact": impact, "help": f"{rule} help", "targets": [target]}

    for role in ("auditor", "agent"):
        checks.audits.append(
            walkthrough.PageAudit(
                "/desk/",
                role,
                1280,
                [violation("listitem", "serious", "li"), violation("region", "moderate", "p")],
                0.1,
            )
        )
    checks.audits.append(
        walkthrough.PageAudit("/desk/", "agent", 390, [violation("label", "critical", "input")], 0)
    )
    checks.failures()
    assert run.codes == ["axe", "axe"]
    assert run.failures[0].startswith("axe label (critical) on /desk/ at 390 px [agent]")
    assert run.failures[1].startswith(
        "axe listitem (serious) on /desk/ at 1280 px [agent, auditor]"
    )
    assert "`li`" in run.failures[1]
    assert all("region" not in failure for failure in run.failures)  # moderate: counted only
    assert checks.report()["pages"][0]["counts"] == {
        "critical": 0,
        "serious": 1,
        "moderate": 1,
        "minor": 0,
    }


def test_a_missing_axe_core_is_a_failure_not_a_skip(walkthrough, tmp_path, capsys):
    """Exit 2, as for a missing Playwright or Chromium: CI fails on it."""
    assert walkthrough.main(["--axe", str(tmp_path / "axe.min.js"), "--timeout", "1"]) == 2
    assert capsys.readouterr().err.startswith(("No axe-core at", "Playwright is missing", "No "))


def test_every_clinician_lead_has_a_valid_npi_of_its_own(walkthrough):
    """Two leads of one run never share an NPI (a duplicate key): it once followed the phone
    number's last digits alone, and the two clinical questions collided."""
    leads = [walkthrough.new_lead(key) for key in walkthrough.LEADS for _ in range(20)]
    npis = [lead.npi for lead in leads]
    assert all(len(npi) == 10 and walkthrough._npi_valid(npi) for npi in npis)
    by_key = {}
    for lead in leads:
        by_key.setdefault(lead.npi[1:4], set()).add(lead.key)
    assert all(len(keys) == 1 for keys in by_key.values())  # the area code: one per lead key


@pytest.mark.skipif(
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
