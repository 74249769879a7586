"""Helpers for tests that run refdesk in other processes or talk to a real server: a child
Python on a database this test shares with it, and an SMTP server's inbox (aiosmtpd).

The fixtures built on them (``smtp_server``, ``shared_database``) are in this package's
conftest.py.
"""

from __future__ import annotations

import asyncio
import email
import json
import os
import socket
import subprocess
import sys
import threading
from email import policy
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[3]


# Every test on ``shared_database`` carries this: pytest-django sets up the test database only
# for marked tests, so a run of that test alone found no tables. On PostgreSQL the test commits
# (the processes read what it wrote); on SQLite it keeps its rolled-back transaction and the
# processes get a file copy.
on_shared_database = pytest.mark.django_db(transaction=connection.vendor == "postgresql")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(database_url: str, data_dir: Path, **extra: str) -> dict:
    """The environment of a child process working on ``database_url`` (``shared_database``)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DJANGO_SETTINGS_MODULE": "refdesk.settings.base",  # the test settings have no task queue
        "REFDESK_ENV": "test",  # with the test settings' keys, already in this environment
        "REFDESK_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "REFDESK_SMS_BACKEND": "refdesk.outreach.sms.LocmemSMSBackend",
        "LOG_LEVEL": "ERROR",
        **extra,
    }


def run_in_child(env: dict, module: str, call: str, timeout: float = 300) -> dict:
    """Run ``call`` (an expression using ``module`` as ``t``) in a child Python; returns what
    it printed last, as JSON."""
    code = f"import json, django; django.setup(); import {module} as t; print(json.dumps({call}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (raw count: copies included).

    ``pause_at`` holds message counts: when the server has taken in that many messages it sets
    ``paused`` and keeps the sender waiting for its reply until ``resume`` is set — a worker
    killed then has put the message on the wire but never heard that it arrived.
    """

    def __init__(self, pause_at=()):
        self.received: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.pause_at = set(pause_at)
        self.paused = threading.Event()
        self.resume = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.received.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            count = len(self.received)
        if count in self.pause_at:
            # Cleared before ``paused`` is set: a handler cancelled when its sender was killed
            # never runs past its wait, so nothing may be left to do after it.
            self.resume.clear()
            self.paused.set()
            await asyncio.to_thread(self.resume.wait, 120)
        return "250 Message accepted for delivery"

    def message_ids(self) -> list[str]:
        with self._lock:
            return [str(message["Message-ID"]) for message in self.received]
