"""Per-request context (request id, the request) that services and log lines read without
threading it through every call."""

from __future__ import annotations

import contextvars
import uuid

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_request: contextvars.ContextVar[object | None] = contextvars.ContextVar("request", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


def set_current_request(request: object | None) -> None:
    _request.set(request)


def current_user_label() -> str | None:
    """The audit label of the user signed in on the current request (``user:alice``), if the
    request already loaded its user: a log line never costs a query."""
    request = _request.get()
    user = getattr(request, "_cached_user", None) if request is not None else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    label = getattr(user, "audit_label", None)
    return str(label) if label else None
