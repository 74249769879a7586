"""Log lines: the request id and the signed-in user's audit label on every line, JSON or plain.

``LOG_FORMAT=json`` writes one JSON object per line (python-json-logger): ``time``, ``level``,
``logger``, ``message``, ``request_id``, ``user`` and the record's structured extras;
``plain`` writes the same as text. Configured in ``refdesk.settings.base`` (LOGGING).

What never reaches a line: Django's request logs name the URL pattern instead of the path
(paths carry references and signed tokens), the request object itself is dropped, and a logged
exception keeps its type and traceback but not its message (messages can quote the values that
caused them, patient data included).
"""

from __future__ import annotations

import logging
import traceback

from django.http import HttpRequest
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from refdesk.core.context import current_request_id, current_user_label

UNMATCHED = "<unmatched>"


def request_route(request: HttpRequest) -> str:
    """The URL pattern a request matched (``r/<str:code>``), never its path."""
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None) if match is not None else None
    return route or UNMATCHED


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_method(request: HttpRequest) -> str:
    """The method, or ``OTHER`` for one a client invented (it could carry anything)."""
    return request.method if request.method in _METHODS else "OTHER"


def user_label(request) -> str | None:
    user = getattr(request, "_cached_user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    label = getattr(user, "audit_label", None)
    return str(label) if label else None


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` and ``user`` to every record and takes paths out of Django's."""

    def filter(self, record: logging.LogRecord) -> bool:
        request = getattr(record, "request", None)
        if not isinstance(request, HttpRequest):
            request = None
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or getattr(request, "request_id", None)
        if getattr(record, "user", None) is None:
            record.user = current_user_label() or (user_label(request) if request else None)
        if request is not None:
            _redact_path(record, request)
            # The object itself would be written as its repr, which holds the path.
            record.request = None
        return True


def _redact_path(record: logging.LogRecord, request: HttpRequest) -> None:
    if not record.args or not isinstance(record.args, tuple):
        return
    raw = {request.path, request.get_full_path()}
    raw |= {value.encode("unicode_escape").decode("ascii") for value in list(raw)}
    route = request_route(request)
    record.args = tuple(route if arg in raw else arg for arg in record.args)


def exception_without_message(exc_info) -> str:
    """The traceback, with the exception's message (and its chain's) replaced by its type."""
    _, error, tb = exc_info
    if error is None:
        return ""
    lines = []
    seen = set()
    chain = []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append(error)
        error = error.__cause__ or error.__context__
    for error in reversed(chain):
        stack = traceback.extract_tb(error.__traceback__)
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(stack))
        name = type(error).__module__ + "." + type(error).__qualname__
        lines.append(f"{name} (message withheld)\n")
    return "".join(lines).rstrip("\n")


class PlainFormatter(logging.Formatter):
    def __init__(self, fmt=None, datefmt=None, style="%", **kwargs):
        fmt = fmt or "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user)s] %(message)s"
        super().__init__(fmt, datefmt, style, defaults={"request_id": "-", "user": "-"})

    def format(self, record: logging.LogRecord) -> str:
        # A copy: other handlers (a JSON one) format the same record after this one.
        record = logging.makeLogRecord(record.__dict__)
        record.request_id = record.request_id or "-"
        record.user = record.user or "-"
        return super().format(record)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return exception_without_message(ei)


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", ["levelname", "name", "message"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")  # ISO 8601, UTC
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request", "color_message"])
        super().__init__(*args, **kwargs)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return exception_without_message(ei)
