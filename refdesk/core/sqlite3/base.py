"""SQLite with write transactions queued inside the process instead of in SQLite's busy handler.

SQLite allows one writer. Without this, threads of one server process that want to write at the
same time wait in SQLite's busy handler, which sleeps in growing steps (up to 100 ms), and intake
latency gets a tail of seconds under load. Here a write transaction (``BEGIN IMMEDIATE``) first
takes a process-wide lock, so the next writer starts the moment the previous one commits. Other
processes (the task worker) still meet SQLite's own lock and busy timeout.
"""

from __future__ import annotations

import threading

from django.db.backends.sqlite3 import base

_write_lock = threading.Lock()


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_write_lock = False

    def _start_transaction_under_autocommit(self):
        _write_lock.acquire()
        self._holds_write_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _release_write_lock(self):
        if self._holds_write_lock:
            self._holds_write_lock = False
            _write_lock.release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_write_lock()
